#!/usr/bin/env bash
# `make test`: every test, the moto ones included (a plain `cargo test` lists
# them as ignored: they need the moto server this script starts on a free
# port and stops), then the template checks. Runs the tests with
# cargo-nextest when it is installed (all test binaries at once, one process
# per test), else with `cargo test`. Prints the time of each step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
scripts/venv.sh

start_test_moto test

step() { printf '== %s (%ds so far)\n' "$1" "$SECONDS"; }
SECONDS=0
step "build"
cargo test --all-targets --no-run --quiet
step "tests (moto at $MOTO_ENDPOINT)"
status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --all-targets --run-ignored all --no-fail-fast || status=$?
else
  cargo test --all-targets --no-fail-fast -- --include-ignored || status=$?
fi
[[ $status -eq 0 ]] || { echo "tests failed" >&2; exit "$status"; }
step "template checks"
scripts/check-template.sh
stop_moto
step "done"
