# pbxtopo: see README.md. Every target works on a fresh machine with Go.
GO      ?= go
BIN     := bin/pbxtopo
FUZZTIME ?= 10s

.PHONY: all build test vulncheck demo bench fuzz chaos chaos-net clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/pbxtopo

# staticcheck, pinned: the module proxy serves this version.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The test command CI runs: vet and staticcheck, then every test with the
# race detector.
test:
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) test -race -timeout 20m ./...

# Known vulnerabilities in the dependencies (govulncheck); says so and
# passes where its database cannot be reached. CI runs it after make test.
vulncheck:
	@scripts/vulncheck.sh

# The guide's sample enterprise: one agent process per cluster on loopback.
MODE ?= mesh
demo: build
	$(BIN) demo --mode $(MODE)

# Long chaos campaigns from a random first seed: CHAOS_RUNS per mode on the
# simulated network (replayable), then CHAOS_RUNS per mode of the live
# production code (Raft, the service, the replicator's loop), CHAOS_PARALLEL
# at a time.
CHAOS_RUNS ?= 1000
CHAOS_PARALLEL ?= 4
chaos: build
	$(BIN) chaos run --mode all --clusters 7 --runs $$((4 * $(CHAOS_RUNS))) --parallel $(CHAOS_PARALLEL) --seed $$(date +%s)
	$(BIN) chaos run --live --mode all --runs $$((4 * $(CHAOS_RUNS))) --parallel $(CHAOS_PARALLEL) --seed $$(date +%s)

# Chaos against real agent processes in network namespaces (needs root).
chaos-net: build
	$(BIN) chaos net --clusters 3 --mode ring --duration 60s

# Performance figures, each with its anchor from the same run.
bench: build
	$(BIN) bench
	$(GO) test -run '^$$' -bench . -benchtime 2s ./store ./pbx ./roaming ./roaming/dundi ./ami

# A short run of every fuzz target (FUZZTIME each).
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
