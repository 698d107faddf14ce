#!/usr/bin/env bash
# `make test`: unit, event-fixture and moto integration tests, then the
# template checks. Starts moto on a free port and stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
scripts/venv.sh

export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_ENDPOINT_URL AWS_PROFILE
port="$(free_port)"
mkdir -p .local
trap stop_moto EXIT
start_moto "$port" .local/moto-test.log
export MOTO_ENDPOINT="http://127.0.0.1:$port" REQUIRE_MOTO=1

echo "== cargo test (moto at $MOTO_ENDPOINT)"
status=0
cargo test --all-targets --no-fail-fast -- --skip a_five_percent_filter || status=$?
echo "== bulk query efficiency (20,000 leads, a 5% filter)"
cargo test --test efficiency -- --nocapture || status=$?
[[ $status -eq 0 ]] || { echo "tests failed" >&2; exit "$status"; }
echo "== template checks"
scripts/check-template.sh
