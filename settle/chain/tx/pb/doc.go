// Package pb holds the generated protobuf code of settlement-chain
// transactions (tx.proto). Regenerate with `make generate`.
package pb

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --go_out=paths=source_relative:. tx.proto"
