# Konsil: `make run` starts the server on http://localhost:8080 with the
# embedded store in ./data; `make test` is the one test command.
GO      ?= go
NODE    ?= node
RACE    ?= -race

# The browser tests run in a private network namespace with only lo, so
# WebRTC stays on 127.0.0.1 and nothing leaves the machine. The test binary
# is built outside it, where modules can be fetched.
BROWSER_PKG   := ./e2e/browser
BROWSER_BIN   := bin/browser.test
BROWSER_RUN   ?= .
BROWSER_FLAGS ?= -test.v
BROWSER_ARGS   = -test.count=1 -test.timeout=10m -test.run='$(BROWSER_RUN)' $(BROWSER_FLAGS)

.PHONY: run build test vet gotest jstest browsertest browserbench fuzz fuzz-long bench gobench soak clean

run:
	$(GO) run ./cmd/konsil serve

build:
	$(GO) build -o bin/konsil ./cmd/konsil

test: vet gotest jstest browsertest

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# Every Go package but the browser tests, which browsertest runs.
gotest:
	$(GO) test $(RACE) -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/e2e/browser$$')

# JavaScript unit tests of the browser app's crypto (node --test).
jstest:
	@if ! command -v $(NODE) >/dev/null; then \
	  if [ "$$CI" = true ]; then echo "node is missing; CI needs it (.ci/run installs nodejs)"; exit 1; fi; \
	  echo "node is not installed: skipping the JavaScript unit tests"; exit 0; \
	fi; \
	cd client/web && $(NODE) --test test/*.test.js

# Browser end-to-end tests in Chromium (skipped without chromium, except
# under CI=true). Screenshots land in artifacts/browser/.
browsertest:
	$(GO) test $(RACE) -c -o $(BROWSER_BIN) $(BROWSER_PKG)
	@if unshare -n true 2>/dev/null; then \
	  cd e2e/browser && unshare -n sh -c "ip link set lo up && exec ../../$(BROWSER_BIN) $(BROWSER_ARGS)"; \
	else \
	  if [ "$$CI" = true ]; then echo "cannot unshare a network namespace; CI runs the browser tests as root"; exit 1; fi; \
	  echo "warning: cannot unshare a network namespace (not root?): browser tests run on the host network"; \
	  cd e2e/browser && ../../$(BROWSER_BIN) $(BROWSER_ARGS); \
	fi

# Browser benchmarks (the clinician's login to the first remote frame,
# 5 runs, median as s-median/op), in the same private namespace.
browserbench:
	$(GO) test -c -o $(BROWSER_BIN) $(BROWSER_PKG)
	cd e2e/browser && unshare -n sh -c "ip link set lo up && exec ../../$(BROWSER_BIN) -test.run '^$$' -test.bench LoginToFirstFrame -test.benchtime 5x -test.timeout 20m"

# Fuzzing runs of every fuzz target in the repository, one after the
# other; scripts/fuzz.sh finds them by their `func FuzzXxx` lines, so a
# new target is never left out. The seeds run in `make test`. `fuzz` is a
# short run; `fuzz-long` a campaign (not in CI: about 10 min per target).
# FUZZPKGS narrows to some package dirs; FUZZFLAGS adds go test flags
# (e.g. -parallel=1 on a shared machine); FUZZMINTIME (env, 5s) bounds
# the shrinking of each new input (see the script).
FUZZTIME  ?= 30s
FUZZLONG  ?= 10m
FUZZPKGS  ?= .
FUZZFLAGS ?=
fuzz:
	GO='$(GO)' FUZZFLAGS='$(FUZZFLAGS)' scripts/fuzz.sh $(FUZZTIME) $(FUZZPKGS)

fuzz-long:
	GO='$(GO)' FUZZFLAGS='$(FUZZFLAGS)' scripts/fuzz.sh $(FUZZLONG) $(FUZZPKGS)

# konsil-bench against a server it starts on 127.0.0.1 in a child
# process: one conference of BENCH_PARTICIPANTS for BENCH_DURATION.
# Reports land in artifacts/bench/. See BENCHMARKS.md for the presets.
BENCH_ARGS ?= --scenario conference --rooms 1 --participants 5 --duration 30s
bench:
	mkdir -p artifacts/bench
	$(GO) run ./cmd/konsil-bench $(BENCH_ARGS) --json artifacts/bench/report.json --html artifacts/bench/report.html

# Soak (not in CI, not in `make test`): konsil-bench at a steady load of
# several conference rooms for SOAK, against a local server in a child
# process, in a private network namespace with only lo when unshare
# allows. The report's soak summary says whether the server's RSS, Go
# heap, goroutines, loss and p99 stayed flat (see BENCHMARKS.md, Soak).
# Reports land in artifacts/soak.json and artifacts/soak.html.
SOAK      ?= 1h
SOAK_ARGS ?= --scenario conference --rooms 4 --participants 3
SOAK_BIN  := bin/konsil-bench
SOAK_RUN   = $(SOAK_BIN) $(SOAK_ARGS) --duration $(SOAK) --json artifacts/soak.json --html artifacts/soak.html
soak:
	mkdir -p artifacts bin
	$(GO) build -o $(SOAK_BIN) ./cmd/konsil-bench
	@if unshare -n true 2>/dev/null; then \
	  unshare -n sh -c "ip link set lo up && exec $(SOAK_RUN)"; \
	else \
	  echo "warning: cannot unshare a network namespace (not root?): the soak runs on the host network"; \
	  $(SOAK_RUN); \
	fi

# Go micro-benchmarks: P2P join latency, SFU forwarding CPU, TURN relay.
gobench:
	$(GO) test ./e2e -run '^$$' -bench P2PJoin -benchtime 50x
	$(GO) test ./sfu -run '^$$' -bench ForwardCPU -benchtime 5000x

clean:
	rm -rf bin
