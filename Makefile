# pbxtopo: see README.md. Every target works on a fresh machine with Go.
GO      ?= go
BIN     := bin/pbxtopo
FUZZTIME ?= 10s

.PHONY: all build test demo bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/pbxtopo

# The test command CI runs: vet, then every test with the race detector.
test:
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...

# The sample enterprise of the guide, imported into a temporary store.
demo: build
	@scripts/demo.sh $(BIN)

# Performance figures, each with its anchor from the same run.
bench: build
	$(BIN) bench
	$(GO) test -run '^$$' -bench . -benchtime 2s ./store ./pbx ./ami

# A short run of every fuzz target (FUZZTIME each).
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
