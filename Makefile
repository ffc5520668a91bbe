# virtsync: see README.md. Every target works on a fresh clone with Go and gcc.
GO       ?= go
BIN      := bin
PKGS     := ./...
export CGO_ENABLED := 1

.PHONY: all build test test-heap bench lint demo clean fuzz chaos bench-scale

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

# The race detector slows decoding tenfold and inflates the heap, so the
# 1,000,000-order heap checks (the decoder, the orders source) run in a
# second, plain pass.
test:
	$(GO) test -race -count=1 $(PKGS)
	$(GO) test -count=1 -run 'HeapBound' ./internal/virtposapi/ ./sources/sourcevp/

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=3x $(PKGS)

# Longer fuzzing than the seed corpus `make test` runs; FUZZTIME per target.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeOrdersXML -fuzztime $(FUZZTIME) ./internal/virtposapi/
	$(GO) test -run '^$$' -fuzz FuzzDecodeOrdersJSON -fuzztime $(FUZZTIME) ./internal/virtposapi/
	$(GO) test -run '^$$' -fuzz FuzzDecodeSmall -fuzztime $(FUZZTIME) ./internal/virtposapi/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz FuzzParseError -fuzztime $(FUZZTIME) ./internal/onecapi/
	$(GO) test -run '^$$' -fuzz FuzzDecodeValues -fuzztime $(FUZZTIME) ./internal/onecapi/
	$(GO) test -run '^$$' -fuzz FuzzParseMetadata -fuzztime $(FUZZTIME) ./internal/onecapi/
	$(GO) test -run '^$$' -fuzz FuzzParseFilter -fuzztime $(FUZZTIME) ./internal/onecapi/onectest/
	$(GO) test -run '^$$' -fuzz FuzzNormalizePhone -fuzztime $(FUZZTIME) ./mapping/

# The built virtsync against both fakes under kill -9, virtpos and 1C
# faults, NATS outages and two processes on one state file; prints a table
# and fails on any duplicate or loss. CHAOS_SEED reruns one exactly,
# CHAOS_LONG=1 plays longer.
CHAOS_SEED ?= 0
chaos: build
	$(BIN)/virtsync-chaos -bin $(BIN)/virtsync -seed $(CHAOS_SEED)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Fakes of 1C and virtpos in one process, the real bin/virtsync run against
# them three times, then its events and status; exits non-zero if a step
# did not do what it says, and gives up after 3 minutes.
demo: build
	$(BIN)/virtsync-demo -bin $(BIN)/virtsync -data demo-data

# The built virtsync at scale against both fakes (served by the harness):
# a first load and an unchanged rerun, beside a bare client doing the least
# the protocols allow, in the same run; prints one markdown table and the
# goals of issue 10, and fails only on a failed run or a lost or duplicated
# record. SCALE_N partners and as many cards; SCALE_LATENCY delays every
# virtpos call (e.g. 20ms); SCALE_CONCURRENCY is 4, or 8 with a latency.
SCALE_N ?= 100000
SCALE_LATENCY ?= 0
SCALE_CONCURRENCY ?=
bench-scale: build
	$(BIN)/virtsync-bench -bin $(BIN)/virtsync -n $(SCALE_N) -latency $(SCALE_LATENCY) $(if $(SCALE_CONCURRENCY),-concurrency $(SCALE_CONCURRENCY)) $(if $(SCALE_NATS),-nats $(SCALE_NATS))

clean:
	rm -rf $(BIN) demo-data
