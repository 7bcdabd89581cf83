# tlslpd — the two commands: `make run` and `make test`.
GO       ?= go
BIN      := bin/tlslpd
CERTS    := certificates
FUZZTIME ?= 60s
ARGS     ?=
BENCH_OUT  ?= BENCHMARKS.md
BENCH_ARGS ?=

.PHONY: all build certs run test vet fmt-check fuzz bench bench-go bench-hostile bench-deps bench-transports clean

all: build

# The version and commit are stamped into the binary (tlslpd --version,
# tlslpd_build_info); without git they fall back to what Go records.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X tlslpd/version.stamped=$(VERSION) -X tlslpd/version.stampedRevision=$(REVISION)

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) .

# Development PKI under the reference names; never overwrites existing files.
certs: build
	./$(BIN) certs --if-missing --dir $(CERTS)

# Serves on localhost:1234 in mTLS mode with the reference defaults, so the
# reference client (and `tlslpd client`) connect with their default paths.
run: certs
	./$(BIN) --host localhost --port 1234 --log-format console $(ARGS)

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The whole suite: formatting, vet, and every test under the race detector;
# third_party/gnet is a module of its own, holding only tlslpd's tests of
# its patches.
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 9m ./...
	cd third_party/gnet && $(GO) test -race -count=1 . ./pkg/netpoll

# Every fuzz target for FUZZTIME each (go test runs one -fuzz target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Go micro-benchmarks (PoW, codec, timer wheel, TLS engine).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./pow ./codec ./timerwheel ./statemachine ./tlsbridge

# The side-by-side suite (tlslpd vs the goroutine-per-connection baseline,
# and nginx's stream module for handshakes when installed; the transports
# section runs both over plain TCP and mTLS, about 1.5 minutes): about 10 minutes,
# writes BENCHMARKS.md (keeping, as they are, the hand-written sections
# after its line "<!-- hand-written below: make bench keeps this part -->").
# With 4 CPUs or more, servers and load generator run
# on disjoint halves, and the cores section (about 30 s per core count,
# up to 6) repeats the sessions test per server core count; on fewer CPUs
# the report says it could not pin. BENCH_ARGS passes flags, e.g.
# BENCH_ARGS=--no-nginx or --no-pin.
bench: build
	./$(BIN) bench suite --out $(BENCH_OUT) $(BENCH_ARGS)

# The transports figures as a Go benchmark, for quick A/B runs with knobs
# (TLSLPD_TRANSPORTS_ARGS, TLSLPD_TRANSPORTS_CLIENTS, _CPUPROFILE; see
# bench/transports): server CPU per session and sessions/s over plain TCP
# and TLS, tlslpd against the baseline; about 15 s. `make bench` measures
# the same in the suite's transports section.
bench-transports:
	$(GO) test -run '^$$' -bench TransportsCPU -benchtime 1x -count 3 ./bench/transports

# The attack benchmarks of issue 11 (adversary/): stalled handshakes,
# overload at 3x capacity, KeyUpdate floods, memory per stalled handshake,
# RSS after a burst; each against a fresh tlslpd on loopback, figures as
# ratios to the same run's no-attack baseline. About 6 minutes at full size;
# HOSTILE_ARGS= (empty) runs the smaller, quicker version; add
# -hostile.bin=PATH to attack another build (e.g. an older commit's) with
# the same attack code, for before/after figures.
HOSTILE_ARGS ?= -hostile.full
bench-hostile:
	$(GO) test -run '^$$' -bench . -benchtime=1x -timeout 30m ./adversary -args $(HOSTILE_ARGS)

# nginx for the suite's handshake reference row (Debian packages; root).
bench-deps:
	apt-get update
	apt-get install -y nginx-light libnginx-mod-stream

clean:
	rm -rf bin
