# pbxtopo: see README.md. Every target works on a fresh machine with Go.
GO      ?= go
BIN     := bin/pbxtopo
FUZZTIME ?= 10s

.PHONY: all build install test vulncheck demo bench fuzz chaos chaos-net phone-campaign clean

all: build

# The version pbxtopo version prints: the nearest tag, or the commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)

build:
	$(GO) build -ldflags "-X main.versionString=$(VERSION) -X main.commitString=$(COMMIT)" -o $(BIN) ./cmd/pbxtopo

# Puts the binary on the PATH: $(PREFIX)/bin/pbxtopo (PREFIX=/usr/local
# as root).
PREFIX ?= $(HOME)/.local
install: build
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN) $(PREFIX)/bin/pbxtopo
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "add $(PREFIX)/bin to your PATH: export PATH=$(PREFIX)/bin:\$$PATH";; esac

# staticcheck, pinned: the module proxy serves this version.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The test command CI runs: formatting, vet and staticcheck, then every
# test with the race detector.
test:
	@unformatted=$$($$($(GO) env GOROOT)/bin/gofmt -l .); if [ -n "$$unformatted" ]; then echo "not gofmt-formatted (run gofmt -w):"; echo "$$unformatted"; exit 1; fi
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
# The runs' stores go to CHAOS_TMPDIR, tmpfs where the machine has it: the
# campaigns test the replication logic, and fsync on a real disk took 60%
# of a simulated run's time.
CHAOS_RUNS ?= 1000
CHAOS_PARALLEL ?= 4
CHAOS_TMPDIR ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})
chaos: build
	TMPDIR=$(CHAOS_TMPDIR) $(BIN) chaos run --mode all --clusters 7 --runs $$((4 * $(CHAOS_RUNS))) --parallel $(CHAOS_PARALLEL) --seed $$(date +%s)
	TMPDIR=$(CHAOS_TMPDIR) $(BIN) chaos run --live --mode all --runs $$((4 * $(CHAOS_RUNS))) --parallel $(CHAOS_PARALLEL) --seed $$(date +%s)

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
