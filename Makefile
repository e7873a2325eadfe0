# backstream — every entry point a developer, CI or a user needs.
# `make demo` is the main job; `make test` runs unit and integration tests against a
# real Kafka and a real S3 server that it starts itself (no Docker needed).
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := infra/local/stack.sh
NPM := npm --no-audit --no-fund --loglevel=error
# The AWS SDK warns on every start under Node 20 that releases after January 2027 need
# Node 22 (see docs/decisions.md); keep test and demo output readable.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?= true

.PHONY: help deps build up down status stack-install env test test-unit test-integration lint format demo bench bench-chunker bench-objects bench-pipeline bench-cdc bench-encryption bench-scaling clean k8s-tools chart-check image-rehearse

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	$(NPM) ci
	@touch $@

deps: node_modules/.installed ## install Node dependencies (npm ci)

build: deps ## compile TypeScript into dist/
	$(NPM) run --silent build

stack-install: ## fetch the Kafka jars and build versitygw (cached in .stack/)
	$(STACK) install

up: build ## start Kafka and versitygw on 127.0.0.1 and wait until both answer
	$(STACK) up

down: ## stop the local stack and wait for its processes to exit
	$(STACK) down

status: ## say whether the local stack runs
	$(STACK) status

env: ## print the BACKSTREAM_* settings for the local stack (eval "$$(make -s env)")
	@$(STACK) env

test: build ## unit and integration tests (integration tests start the stack if needed)
	$(NPM) run --silent test:unit
	$(NPM) run --silent test:integration

test-unit: build ## unit tests only: no broker, no S3
	$(NPM) run --silent test:unit

test-integration: build ## integration tests against the real stack
	$(NPM) run --silent test:integration

lint: deps ## ESLint (type-aware) and Prettier check
	$(NPM) run --silent lint

format: deps ## rewrite files with Prettier
	$(NPM) run --silent format

demo: up ## the main job: back up a sample tree (or DATA=path), restore it, compare byte for byte
	@infra/local/demo.sh $(DATA)

bench: bench-chunker bench-objects bench-pipeline bench-cdc bench-encryption ## all benchmarks (not part of make test)

bench-objects: up ## per-object PUT/GET cost of the local S3 server at several sizes
	@eval "$$($(STACK) env)" && BACKSTREAM_S3_BUCKET=bench-object-cost node dist/test/bench/object-cost.js

bench-chunker: build ## chunker MB/s per core (cut only, and with SHA-256), medians
	node dist/test/bench/chunker.js --mib 256 --runs 5

bench-pipeline: up ## backstream vs restic, ~1 GiB mixed dataset: 3 backups, restore (MIB=, ROUNDS=, DOC=0|1)
	@eval "$$($(STACK) env)" && node dist/test/bench/versus-restic.js --mib $${MIB:-1024} --rounds $${ROUNDS:-3} --write-doc $${DOC:-auto}

bench-cdc: up ## change events/s and latency from publish to ledger commit, 8-partition topic (EVENTS=, RUNS=, RATE=, ARGS=, DOC=0|1)
	@eval "$$($(STACK) env)" && node dist/test/bench/cdc.js --events $${EVENTS:-15000} --runs $${RUNS:-3} --rate $${RATE:-auto} --write-doc $${DOC:-auto} $${ARGS:-}

bench-encryption: up ## plain vs encrypted repository, 256 MiB dataset: backup, restore, ledger verify [--deep] (MIB=, ROUNDS=, DOC=0|1)
	@eval "$$($(STACK) env)" && node dist/test/bench/encryption.js --mib $${MIB:-256} --rounds $${ROUNDS:-3} --write-doc $${DOC:-auto}

bench-scaling: up ## backup MB/s vs chunk-worker × verifier processes, and telemetry off/metrics/export, 128 MiB (MIB=, ROUNDS=, CONFIGS=, ARGS=, DOC=0|1)
	@eval "$$($(STACK) env)" && node dist/test/bench/scaling.js --mib $${MIB:-128} --rounds $${ROUNDS:-3} --configs $${CONFIGS:-1x1,2x1,1x2,2x2,3x3} --write-doc $${DOC:-auto} $${ARGS:-}

k8s-tools: ## build the pinned helm and kubeconform and the Kubernetes and KEDA schemas into .tools/ (cached)
	infra/k8s-tools/tools.sh

chart-check: ## validate the Helm chart: lint, render, kubeconform against Kubernetes and KEDA schemas
	infra/k8s-tools/chart-check.sh

image-rehearse: ## without Docker: build what the Dockerfile's runtime stage holds, run it as non-root
	infra/docker/rehearse.sh

clean: down ## stop the stack and delete build output, stack state and benchmark data
	rm -rf dist .stack .bench .demo
