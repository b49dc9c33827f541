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
SCALING_QUICK  ?=
LLAMACPP_ROUNDS  ?= 3
LLAMACPP_THREADS ?= 1
# go-nvml's cgo calls NVML functions the header marks deprecated; gcc's
# ~140 lines of warnings about them on a cold build say nothing about fomo.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
# Release builds: the tarballs' files carry the last commit's time.
RELEASE_DIR    ?= bin/release
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# arm64 is cross-built without cgo (no NVML) unless ARM64_CC names a cross
# gcc, e.g. ARM64_CC=aarch64-linux-gnu-gcc (Debian gcc-aarch64-linux-gnu).
ARM64_CC       ?=
RELEASE_FILES  := README.md $(wildcard LICENSE) deploy/fomo.service deploy/prometheus.yml deploy/grafana/fomo.json docs/operators.md

.PHONY: help build release run test docs-test test-race test-gpu test-llamacpp bench-llamacpp chaos soak scaling bench lint check-deps generate tidy-check clean

#? help: list the targets
help:
	@grep -h -E '^#\? ' $(MAKEFILE_LIST) | sed -e 's/^#? /  /' -e 's/: /\t/' | expand -t 16

#? build: build bin/fomo with the version stamped in
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/fomo

#? release: reproducible linux/amd64 and linux/arm64 tarballs and SHA256SUMS in RELEASE_DIR (bin/release)
release:
	rm -rf $(RELEASE_DIR)
	$(MAKE) --no-print-directory release-arch ARCH=amd64 CGO=1 RELEASE_CC=gcc
	$(MAKE) --no-print-directory release-arch ARCH=arm64 CGO=$(if $(ARM64_CC),1,0) RELEASE_CC=$(ARM64_CC)
	cd $(RELEASE_DIR) && sha256sum fomo-*.tar.gz > SHA256SUMS
	@cat $(RELEASE_DIR)/SHA256SUMS

# release-arch builds the tarball of one ARCH (see release).
release-arch:
	@test -n "$(ARCH)" || { echo "release-arch: set ARCH"; exit 1; }
	$(eval STAGE := $(RELEASE_DIR)/stage/fomo-$(VERSION)-linux-$(ARCH))
	rm -rf $(STAGE) && mkdir -p $(STAGE)
	CGO_ENABLED=$(CGO) $(if $(RELEASE_CC),CC=$(RELEASE_CC)) GOOS=linux GOARCH=$(ARCH) \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(STAGE)/fomo ./cmd/fomo
	cp $(RELEASE_FILES) $(STAGE)/
	tar --sort=name --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner \
		--mode='u+rwX,go+rX,go-w' --format=gnu -C $(RELEASE_DIR)/stage -cf - fomo-$(VERSION)-linux-$(ARCH) \
		| gzip -9n > $(RELEASE_DIR)/fomo-$(VERSION)-linux-$(ARCH).tar.gz
	rm -rf $(RELEASE_DIR)/stage

#? run: build and run a local devnet of NODES (4) nodes with the settlement chain until Ctrl-C
run: build
	./$(BIN) devnet --nodes $(NODES) --dir $(DEVNET)

#? test: run every test (about 5 minutes on 2 cores)
test:
	$(GO) test -count=1 -timeout 12m $(TESTFLAGS) ./...

#? docs-test: run every command of README.md and docs/*.md in order on a fresh copy (minutes)
docs-test:
	FOMO_DOCS_TEST=1 $(GO) test -count=1 -v -timeout 40m -run '^TestDocs$$' ./test/docs

#? test-race: run every test with the race detector
test-race:
	$(GO) test -count=1 -race -timeout 20m $(TESTFLAGS) ./...

#? test-gpu: run the tests that need an NVIDIA GPU and driver
test-gpu:
	$(GO) test -count=1 -tags gpu -v -run GPU ./gpu/...

#? test-llamacpp: synthetic models in llama.cpp (node-llama-cpp from npm) against the built-in engine; needs node and npm
test-llamacpp:
	FOMO_LLAMACPP=1 $(GO) test -count=1 -v -run '^TestLlamaCpp$$' ./runtime/engine/synth

#? bench-llamacpp: built-in engine against llama.cpp, prefill, decode and greedy agreement on smollm-135m-shaped files; LLAMACPP_ROUNDS (3), LLAMACPP_THREADS (1; e.g. 1,2)
bench-llamacpp:
	FOMO_LLAMACPP_BENCH=1 FOMO_LLAMACPP_ROUNDS=$(LLAMACPP_ROUNDS) FOMO_LLAMACPP_THREADS=$(LLAMACPP_THREADS) \
		$(GO) test -count=1 -v -timeout 60m -run '^TestVsLlamaCpp$$' ./runtime/engine/synth

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

#? scaling: receipts' gossip, CPU, storage and chain costs at several network sizes, fitted and projected, as Markdown (about 2 minutes; SCALING_QUICK=1: seconds)
scaling:
	$(GO) run ./internal/scalesim/cmd/scalesim $(if $(SCALING_QUICK),-quick)

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
