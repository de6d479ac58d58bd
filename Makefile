# daxkv build, test and demo entry points. `make help` lists them.
#
# Needs only Go (see go.mod), gcc (for the race detector), make, git and the
# Go module proxy: tools are installed into .cache/bin on first use.

GO ?= go

# Project-local tools, pinned. The directory name carries the version, so
# bumping the pin installs the new binary instead of reusing the old one.
TOOLBIN := $(CURDIR)/.cache/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLBIN)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
# Default checks, less ST1012 (error vars named ErrFoo): the shared
# sentinels are errs.NotFound etc. by design, re-exported as store.ErrNotFound.
STATICCHECK_CHECKS := inherit,-ST1012

# Cross targets that must keep building without cgo (see README).
CROSS := linux/arm64 darwin/arm64 windows/amd64

# Packages to check; narrow it while iterating: make test PKGS=./flush/...
PKGS ?= ./...

BENCHTIME ?= 1s
# daxkv bench: every store's files go to BENCH_DIR (tmpfs: emulated pmem),
# the report (RESULTS.md, results.json, PNG plots) to BENCH_OUT.
BENCH_DIR ?= /dev/shm/daxkv-bench
BENCH_OUT ?= docs/bench
BENCH_FLAGS ?=
TEST_TIMEOUT ?= 10m
TORTURE_TIMEOUT ?= 120m

.PHONY: all help build test fmtcheck vet staticcheck nocgo cross race demo bench torture fmt tools clean

all: build

help:
	@echo "make build     CGO_ENABLED=0 build of bin/daxkv"
	@echo "make test      gofmt check, go vet, staticcheck $(STATICCHECK_VERSION), cgo-free and cross builds, go test -race"
	@echo "make demo      build, load 1M keys into an emulated-pmem region, kill -9 a loader, verify (scripts/demo.sh)"
	@echo "make bench     flush micro-benchmarks, then daxkv bench against its peers into docs/bench (BENCH_DIR=$(BENCH_DIR))"
	@echo "make torture   long randomized and crash tests: -race -tags torture, timeout $(TORTURE_TIMEOUT)"
	@echo "make fmt       gofmt -w every Go file"

# Stamp the VCS revision into the binary (daxkv version) when git can read
# the tree; where it cannot (not a checkout, "dubious ownership"), go build
# would fail with auto, so stamping is left off. Evaluated only by build.
BUILDVCS = $(shell git -C '$(CURDIR)' status --porcelain >/dev/null 2>&1 && echo auto || echo false)

build:
	CGO_ENABLED=0 $(GO) build -buildvcs=$(BUILDVCS) -o bin/daxkv ./cmd/daxkv

# The gate: everything CI runs.
test: fmtcheck vet staticcheck nocgo cross race

fmtcheck:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.cache/*' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed (run make fmt):"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) -checks '$(STATICCHECK_CHECKS)' $(PKGS)

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$@ -version

# The module must build without cgo (DESIGN.md: no cgo anywhere).
nocgo:
	CGO_ENABLED=0 $(GO) build $(PKGS)

# Other platforms build (and vet, which checks assembly frames) without cgo.
cross:
	@set -e; for t in $(CROSS); do \
		echo "GOOS=$${t%/*} GOARCH=$${t#*/} go build + vet"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build $(PKGS); \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet $(PKGS); \
	done

# The race detector needs cgo: the one place cgo is switched on.
race:
	CGO_ENABLED=1 $(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)

demo: build
	./scripts/demo.sh

# The full comparison takes about half an hour on 2 cores; run it on a quiet
# machine (the report records the load average). BENCH_FLAGS=--quick for a
# smoke run in under a minute.
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./flush/...
	bin/daxkv bench --path $(BENCH_DIR) --out $(BENCH_OUT) $(BENCH_FLAGS) > /dev/null

# Tests behind the torture build tag run for minutes (crash-image
# enumeration, long randomized workloads); they are not part of `make test`.
torture:
	DAXKV_KILL_ROUNDS=200 DAXKV_CRASH_STEPS=5000 CGO_ENABLED=1 $(GO) test -race -tags torture -timeout $(TORTURE_TIMEOUT) $(PKGS)

fmt:
	gofmt -w $$(find . -name '*.go' -not -path './.cache/*' -not -path './.git/*')

tools: $(STATICCHECK)

clean:
	rm -rf bin
