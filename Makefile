# hookrelay — run `make help` for the targets.
GO      ?= go
BIN     := bin/hookrelay
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
CONFIG  ?= configs/hookrelay.yaml
# Packages with goroutines of their own run under the race detector.
RACE_PKGS := ./consumer/... ./sender/... ./store/... ./internal/sink/... ./cmd/...

.PHONY: help build run sink demo test test-short bench fuzz vet fmt clean

help:
	@echo "make run    relay on the embedded NATS server ($(CONFIG))"
	@echo "make test   all tests (what CI runs)"
	@echo "make demo   embedded NATS + relay + local Coralogix-compatible sink, sample events, invocation table"
	@echo "make bench  end-to-end benchmark (BENCH_EVENTS=N to change the count)"
	@echo "make build  static binary in $(BIN)"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hookrelay

run: build
	$(BIN) run --config $(CONFIG)

sink: build
	$(BIN) sink --listen 127.0.0.1:8443 --api-key local-dev-key

demo: build
	./scripts/demo.sh

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 20m $(RACE_PKGS)
	$(GO) test -timeout 20m ./renderer/... ./internal/config/...

test-short:
	$(GO) test -short ./...

bench: build
	$(GO) run ./cmd/hookrelay-bench -relay $(BIN) -mode per-event
	$(GO) run ./cmd/hookrelay-bench -relay $(BIN) -mode coralogix-batched

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRender -fuzztime 60s ./renderer
	$(GO) test -run '^$$' -fuzz FuzzDecodeEvent -fuzztime 60s ./renderer
	$(GO) test -run '^$$' -fuzz FuzzFields_DecodeEvent -fuzztime 60s ./renderer
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./internal/config

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin data
