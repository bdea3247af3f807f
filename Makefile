# streambatch — run `make help` for the targets.
SHELL := /bin/bash
export GOTOOLCHAIN := local

TEMPORAL_VERSION  := v1.5.1
VERSITYGW_VERSION := v1.8.0
# Pinned tools are built once per machine into this cache (Go build cache
# makes rebuilds cheap); tests find them through STREAMBATCH_TOOLS_DIR.
TOOLS_DIR ?= $(HOME)/.cache/streambatch/tools-temporal_$(TEMPORAL_VERSION)-versitygw_$(VERSITYGW_VERSION)
export STREAMBATCH_TOOLS_DIR := $(TOOLS_DIR)

.PHONY: help tools test test-short build fmt vet fuzz

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

tools: $(TOOLS_DIR)/temporal $(TOOLS_DIR)/versitygw ## install the pinned Temporal CLI and versitygw (cached)

$(TOOLS_DIR)/temporal:
	@mkdir -p $(TOOLS_DIR)
	@echo "installing Temporal CLI $(TEMPORAL_VERSION) into $(TOOLS_DIR) (about 4 minutes the first time)"
	GOBIN=$(TOOLS_DIR) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION)

$(TOOLS_DIR)/versitygw:
	@mkdir -p $(TOOLS_DIR)
	@echo "installing versitygw $(VERSITYGW_VERSION) into $(TOOLS_DIR) (about 80 seconds the first time)"
	GOBIN=$(TOOLS_DIR) go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

build: ## build ./bin/streambatch
	go build -o bin/streambatch ./cmd/streambatch

test: tools ## run every test against real PostgreSQL, Temporal and S3
	go test -count=1 -timeout 30m ./...

test-short: ## unit tests only (no PostgreSQL, Temporal or S3)
	go test -short -count=1 ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

vet: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

fuzz: ## run each fuzz target briefly (FUZZTIME executions, default 100000x; a count avoids golang/go#75804)
	go test ./ndjson -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./ndjson -run '^$$' -fuzz '^FuzzSniff$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./ingest -run '^$$' -fuzz '^FuzzDecodeItem$$' -fuzztime $${FUZZTIME:-100000x}
