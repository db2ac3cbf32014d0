# Lucid build, test and release targets. Every target works on a fresh
# machine with Go 1.26 (see .ci/run for what CI installs first).

GO          ?= go
BIN         := bin/lucid
PKG         := ./...
VERSION     ?= $(shell git describe --tags --dirty 2>/dev/null || echo 0.1.0-dev+$$(git rev-parse --short HEAD 2>/dev/null || echo unknown))
LDFLAGS     := -s -w -X github.com/lucidnet/lucid/node.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.0
NODES       ?= 5

.PHONY: all build run testnet test test-mongo test-short bench bench-tor lint fuzz cross ci clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/lucid

# The README's "run it" command: a local testnet of $(NODES) node processes.
run testnet: build
	./$(BIN) testnet up --nodes $(NODES)

test:
	$(GO) test -race -count=1 -timeout 15m $(PKG)

# The tests with a throw-away MongoDB wire protocol server (FerretDB 1.24 on
# PostgreSQL 15, installed and started by .ci/with-mongo.sh, stopped after);
# see docs/testing.md.
test-mongo:
	bash .ci/with-mongo.sh $(MAKE) test

test-short:
	$(GO) test -short -count=1 $(PKG)

# Benchmarks print figures and ratios against baselines measured in the same
# run; nothing asserts a time. They run beside a throw-away FerretDB so the
# recording catalog's MongoDB figures are measured too (LUCID_MONGO=off: not).
bench:
	bash .ci/with-mongo.sh $(GO) test -run '^$$' -bench . -timeout 30m $(PKG)

# The Tor transport's benchmarks (setup, throughput, round trips against
# raw SOCKS streams and TCP) on a private Tor network on loopback; they
# are also part of `make bench`. Needs the tor package.
bench-tor:
	$(GO) test -run '^$$' -bench 'Tor' -timeout 20m ./p2p/tor

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKG)
	$(GO) run $(STATICCHECK) $(PKG)

# Short coverage-guided runs of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list $(PKG)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Static linux/arm64 binary for a Raspberry Pi 5.
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/lucid-linux-arm64 ./cmd/lucid

ci: lint test

clean:
	rm -rf bin
