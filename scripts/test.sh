#!/usr/bin/env bash
# `make test`: unit, event-fixture and moto integration tests, then the
# template checks. Starts moto on a free port and stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
scripts/venv.sh

start_test_moto test

echo "== cargo test (moto at $MOTO_ENDPOINT)"
status=0
cargo test --all-targets --no-fail-fast -- --skip a_five_percent_filter || status=$?
echo "== bulk query efficiency (20,000 leads, a 5% filter)"
cargo test --test efficiency -- --nocapture || status=$?
[[ $status -eq 0 ]] || { echo "tests failed" >&2; exit "$status"; }
echo "== template checks"
scripts/check-template.sh
