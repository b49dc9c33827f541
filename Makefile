# fomo: build, run and test. `make help` lists the targets.

GO        ?= go
BIN       ?= bin/fomo
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/fomonet/fomo/node.Version=$(VERSION)
DEVNET    ?= .devnet
NODES     ?= 4
TESTFLAGS ?=
CHAOS_DURATION ?= 5m
CHAOS_SEED     ?= 1
CHAOS_FAULTS   ?= 1000
CHAOS_OUT      ?= bin/chaos.md
DURATION       ?= 30m
SOAK_OUT       ?= bin/soak

.PHONY: help build run test test-race test-gpu chaos soak bench lint check-deps generate tidy-check clean

#? help: list the targets
help:
	@grep -h -E '^#\? ' $(MAKEFILE_LIST) | sed -e 's/^#? /  /' -e 's/: /\t/' | expand -t 16

#? build: build bin/fomo with the version stamped in
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/fomo

#? run: build and run a local devnet of NODES (4) nodes with the settlement chain until Ctrl-C
run: build
	./$(BIN) devnet --nodes $(NODES) --dir $(DEVNET)

#? test: run every test (about 5 minutes on 2 cores)
test:
	$(GO) test -count=1 -timeout 12m $(TESTFLAGS) ./...

#? test-race: run every test with the race detector
test-race:
	$(GO) test -count=1 -race -timeout 20m $(TESTFLAGS) ./...

#? test-gpu: run the tests that need an NVIDIA GPU and driver
test-gpu:
	$(GO) test -count=1 -tags gpu -v -run GPU ./gpu/...

#? chaos: fault campaign on a 4-node devnet: kill -9, pause, partition; CHAOS_DURATION, CHAOS_SEED, CHAOS_FAULTS
chaos:
	@mkdir -p $(dir $(CHAOS_OUT))
	CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_SEED=$(CHAOS_SEED) CHAOS_FAULTS=$(CHAOS_FAULTS) CHAOS_OUT=$(abspath $(CHAOS_OUT)) \
		$(GO) test -count=1 -v -timeout 90m -run '^TestChaos$$' ./test/chaos

#? soak: steady traffic through a 4-node devnet for DURATION (30m); writes SOAK_OUT/soak.{csv,md}
soak:
	@mkdir -p $(SOAK_OUT)
	SOAK_DURATION=$(DURATION) SOAK_OUT=$(abspath $(SOAK_OUT)) \
		$(GO) test -count=1 -v -timeout 0 -run '^TestSoak$$' ./test/chaos

#? bench: run the benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

#? lint: go vet, gofmt and the gpu-tagged build
lint:
	$(GO) vet ./...
	$(GO) vet -tags gpu ./gpu/...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

#? check-deps: fail on an import between packages that docs/architecture.md's table does not allow
check-deps:
	$(GO) run ./internal/depcheck

#? generate: regenerate protobuf code (needs protoc; the result is committed)
generate:
	$(GO) generate ./...

#? tidy-check: fail if go.mod or go.sum are not tidy
tidy-check:
	$(GO) mod tidy -diff

#? clean: remove build outputs and the devnet directory
clean:
	rm -rf bin $(DEVNET)
