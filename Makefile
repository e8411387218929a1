# Build, test and lint patchloop. `make test` is the test command CI runs.
GO ?= go
export GOFLAGS := $(if $(findstring -buildvcs=false,$(GOFLAGS)),$(GOFLAGS),$(GOFLAGS) -buildvcs=false)

.PHONY: build test test-short lint vet fmt demo bench

build:
	$(GO) build -o bin/patchloop ./cmd/patchloop

## test: lint, then every test including the slow end-to-end ones.
test: lint
	PATCHLOOP_TEST_POSTGRES=$${PATCHLOOP_TEST_POSTGRES:-$$(cat /tmp/patchloop-ci-pg.url 2>/dev/null)} \
	$(GO) test -count=1 -timeout 80m ./...

## test-short: the fast tests only (no debootstrap, no archive access).
test-short:
	$(GO) test -short -count=1 ./...

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

demo: build
	./bin/patchloop demo

bench:
	./scripts/bench
