# Konsil: `make run` starts the server on http://localhost:8080 with the
# embedded store in ./data; `make test` is the one test command.
GO      ?= go
RACE    ?= -race

.PHONY: run build test vet gotest fuzz bench clean

run:
	$(GO) run ./cmd/konsil serve

build:
	$(GO) build -o bin/konsil ./cmd/konsil

test: vet gotest

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

gotest:
	$(GO) test $(RACE) -count=1 -timeout 15m ./...

# Short fuzzing runs of every fuzz target (the seeds run in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./protocol -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./access -run '^$$' -fuzz FuzzValidateRoom -fuzztime $(FUZZTIME)

bench:
	$(GO) test ./e2e -run '^$$' -bench P2PJoin -benchtime 50x

clean:
	rm -rf bin
