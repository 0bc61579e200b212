# pbxtopo: see README.md. Every target works on a fresh machine with Go.
GO      ?= go
BIN     := bin/pbxtopo
FUZZTIME ?= 10s

.PHONY: all build test demo bench fuzz chaos chaos-net phone-campaign clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/pbxtopo

# The test command CI runs: vet, then every test with the race detector.
test:
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...

# The guide's sample enterprise: one agent process per cluster on loopback.
MODE ?= mesh
demo: build
	$(BIN) demo --mode $(MODE)

# Long random chaos campaigns on the simulated network (CHAOS_WALL of real time).
CHAOS_WALL ?= 10m
chaos: build
	$(BIN) chaos run --mode all --clusters 7 --wall $(CHAOS_WALL) --seed $$(date +%s)

# Chaos against real agent processes in network namespaces (needs root).
chaos-net: build
	$(BIN) chaos net --clusters 3 --mode ring --duration 60s

# Performance figures, each with its anchor from the same run.
bench: build
	$(BIN) bench
	$(GO) test -run '^$$' -bench . -benchtime 2s ./store ./pbx ./roaming ./roaming/dundi ./ami

# The phone failover campaign (about 30 minutes): baresip, the agents' DNS and the real
# Asterisk with 60 s re-registration and 30 s TTL, 5 runs (internal/asterisktest).
phone-campaign:
	$(GO) test -tags campaign -run TestPhoneFailoverCampaign -count=1 -timeout 60m -v ./internal/asterisktest

# A short run of every fuzz target (FUZZTIME each).
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
