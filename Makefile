# The two commands a new user needs: `make run` and `make test`.
.PHONY: run test import audit token lint fmt venv build bench simulate spreadsheet-check load fuzz

run:            ## serve the endpoint locally (DynamoDB on dynalite, S3 on moto) with demo data (PROFILE=release: the release build)
	PROFILE=$(PROFILE) scripts/run-local.sh

test:           ## unit, fixture and moto integration tests, template lint
	scripts/test.sh

import:         ## make import ORG=<org> FILE=<leads.jsonl>
	@test -n "$(ORG)" -a -n "$(FILE)" || { echo "usage: make import ORG=<org> FILE=<leads.jsonl>"; exit 2; }
	@if [ -n "$$AWS_ENDPOINT_URL$$AWS_ENDPOINT_URL_DYNAMODB" ]; then . scripts/local-env.sh; fi; \
	cargo run --quiet --bin import-leads -- "$(ORG)" "$(FILE)"

audit:          ## make audit ORG=<org> [LIMIT=20]: the most recent audit records, newest first
	@test -n "$(ORG)" || { echo "usage: make audit ORG=<org> [LIMIT=20]"; exit 2; }
	@if [ -n "$$AWS_ENDPOINT_URL$$AWS_ENDPOINT_URL_DYNAMODB" ]; then . scripts/local-env.sh; fi; \
	cargo run --quiet --bin audit-log -- "$(ORG)" $(LIMIT)

token:          ## make token ORG=<org>: an HS256 dev token signed with JWT_SECRET
	@test -n "$(ORG)" || { echo "usage: make token ORG=<org>"; exit 2; }
	@. scripts/local-env.sh && cargo run --quiet --bin dev-token -- "$(ORG)"

lint:           ## formatting, the module-cycle check, clippy (missing docs are errors), as CI runs them
	cargo fmt --check
	python3 scripts/check-module-cycles.py
	python3 scripts/check-doc-links.py
	cargo clippy --all-targets -- -D warnings

fmt:
	cargo fmt

venv:
	scripts/venv.sh

build:
	cargo build --bins

bench:          ## benchmarks (not tests): the W1-W4 workloads against dynalite (BENCH_DYNAMODB=moto: moto), release build, one table
	scripts/bench.sh

simulate:       ## the real range code against a simulated DynamoDB on a paused clock, one table (not part of make test; SIMULATE_SEED=N)
	@echo 'cargo run --quiet --profile simulate --example simulate' >&2
	@cargo run --quiet --profile simulate --example simulate

.PHONY: side-by-side
side-by-side:   ## the export beside a Python/boto3 reference handler on dynalite, CPU and wall per export, one table (SIDE_PROFILE=release|simulate, SIDE_LEADS, SIDE_RUNS; not part of make test)
	scripts/venv.sh
	scripts/node-modules.sh
	.venv/bin/python scripts/side-by-side.py

spreadsheet-check: ## open an export of hostile leads with LibreOffice; fail on any formula
	scripts/spreadsheet-check.sh

load:           ## load test of the local server over moto (not part of make test)
	scripts/load.sh $(LOAD_ARGS)

fuzz:           ## proptest fuzzing, 100,000 cases per target (not part of make test)
	scripts/fuzz.sh
