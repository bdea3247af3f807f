# streambatch — run `make help` for the targets.
SHELL := /bin/bash
export GOTOOLCHAIN := local

# Pinned tools (internal/proc/tools.go names the same versions), built once
# per machine into TOOLS_DIR as <name>-<version>.
TEMPORAL   := github.com/temporalio/cli/cmd/temporal@v1.5.1
VERSITYGW  := github.com/versity/versitygw/cmd/versitygw@v1.8.0
UI_SERVER  := github.com/temporalio/ui-server/v2/cmd/server@v2.55.0
TEMPORAL_SERVER := go.temporal.io/server/cmd/server@v1.29.1
TEMPORAL_SQL    := go.temporal.io/server/cmd/tools/sql@v1.29.1
# sqlc generates internal/store/internal/db from internal/store/queries (cgo: pg_query's parser).
SQLC       := github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1
TOOLS_DIR ?= $(HOME)/.cache/streambatch/tools
export STREAMBATCH_TOOLS_DIR := $(TOOLS_DIR)
# DEV_TOOLS run the local stack; the tests also need the real Temporal
# server and its schema tool (the production-topology suite).
DEV_TOOLS := $(TOOLS_DIR)/temporal-v1.5.1 $(TOOLS_DIR)/versitygw-v1.8.0 $(TOOLS_DIR)/temporal-ui-server-v2.55.0
SQLC_BIN  := $(TOOLS_DIR)/sqlc-v1.31.1
TOOL_BINS := $(DEV_TOOLS) $(TOOLS_DIR)/temporal-server-v1.29.1 $(TOOLS_DIR)/temporal-sql-tool-v1.29.1 $(SQLC_BIN)

# install-tool PACKAGE@VERSION NAME: go install into a scratch GOBIN, then
# move the binary to its versioned name.
define install-tool
	@mkdir -p $(TOOLS_DIR)/.gobin
	@echo "installing $(1) into $(TOOLS_DIR) (first time: minutes for temporal, about a minute for versitygw)"
	GOBIN=$(TOOLS_DIR)/.gobin go install $(1)
	mv $(TOOLS_DIR)/.gobin/$(2) $@
endef

.PHONY: help dev tools test test-short build bench fmt vet sqlc fuzz

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

tools: $(TOOL_BINS) ## install the pinned Temporal CLI, UI server, server + SQL tool, versitygw and sqlc (cached)

$(TOOLS_DIR)/temporal-v1.5.1:
	$(call install-tool,$(TEMPORAL),temporal)

$(TOOLS_DIR)/versitygw-v1.8.0:
	$(call install-tool,$(VERSITYGW),versitygw)

$(TOOLS_DIR)/temporal-ui-server-v2.55.0:
	$(call install-tool,$(UI_SERVER),server)

$(TOOLS_DIR)/temporal-server-v1.29.1:
	$(call install-tool,$(TEMPORAL_SERVER),server)

$(TOOLS_DIR)/temporal-sql-tool-v1.29.1:
	$(call install-tool,$(TEMPORAL_SQL),sql)

$(SQLC_BIN): export CGO_ENABLED := 1
$(SQLC_BIN):
	$(call install-tool,$(SQLC),sqlc)

dev: $(DEV_TOOLS) ## install what the local stack needs, then run it (streambatch dev)
	go run ./cmd/streambatch dev $(DEV_FLAGS)

build: ## build ./bin/streambatch
	go build -o bin/streambatch ./cmd/streambatch

# BENCH_FLAGS are streambatch-bench's flags (docs/performance.md).
BENCH_FLAGS ?= --scenario all --s3-latency 0ms,50ms,200ms
bench: $(DEV_TOOLS) build ## build ./bin/streambatch-bench and run it on ./bin/streambatch (BENCH_FLAGS="--scenario S")
	go build -o bin/streambatch-bench ./cmd/streambatch-bench
	./bin/streambatch-bench --streambatch bin/streambatch $(BENCH_FLAGS)

test: tools ## run every test against real PostgreSQL, Temporal and S3
	go test -count=1 -timeout 30m ./...

test-short: ## unit tests only (no PostgreSQL, Temporal or S3)
	go test -short -count=1 ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

vet: $(SQLC_BIN) ## gofmt check, go vet, and sqlc diff (internal/store/internal/db is what sqlc generates)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	@$(SQLC_BIN) diff || { echo "internal/store/internal/db is stale: run make sqlc and commit it"; exit 1; }

sqlc: $(SQLC_BIN) ## regenerate internal/store/internal/db from internal/store/queries/*.sql and internal/store/migrations
	$(SQLC_BIN) generate

fuzz: ## run each fuzz target briefly (FUZZTIME executions, default 100000x; a count avoids golang/go#75804)
	go test ./internal/ndjson -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./internal/ndjson -run '^$$' -fuzz '^FuzzSniff$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./internal/ingest -run '^$$' -fuzz '^FuzzDecodeItem$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./jsonscan -run '^$$' -fuzz '^FuzzValidJSON$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./jsonscan -run '^$$' -fuzz '^FuzzUnquote$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./jsonscan -run '^$$' -fuzz '^FuzzQuote$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./batch -run '^$$' -fuzz '^FuzzDecodeItems$$' -fuzztime $${FUZZTIME:-100000x}
	go test ./batch -run '^$$' -fuzz '^FuzzParseItemOptions$$' -fuzztime $${FUZZTIME:-100000x}
