// Package pb holds the protobuf messages of usage authorizations and
// receipts, generated from receipt.proto by `make generate` (protoc and
// protoc-gen-go, the latter pinned as a tool in go.mod). The generated code
// is committed.
package pb

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --go_out=paths=source_relative:. receipt.proto"
