#!/usr/bin/env bash
# `make test`: every test, the moto ones included (a plain `cargo test` lists
# them as ignored: they need the moto server this script starts on a free
# port and stops), then the template checks. Runs the tests with
# cargo-nextest when it is installed (all test binaries at once, one process
# per test), else with `cargo test`; then schemathesis holds the local
# server to openapi.yaml. Prints the time of each step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
step() { printf '== %s (%ds so far)\n' "$1" "$SECONDS"; }
SECONDS=0
step "venv and build, in parallel"
# The venv (pip, mostly network) installs while cargo compiles.
venv_log=$(mktemp)
scripts/venv.sh >"$venv_log" 2>&1 &
venv_pid=$!
# The library and the integration tests (which build the binaries they run);
# benches are `make bench`, the ignored fuzz targets `make fuzz`, the
# spreadsheet writer `make spreadsheet-check`: every other ignored test (moto,
# make run) runs here.
targets=(--lib --tests)
skip=(fuzz:: formula::write_hostile_export_for_the_spreadsheet_check)
build_status=0
cargo test "${targets[@]}" --no-run --quiet || build_status=$?
venv_status=0
wait "$venv_pid" || venv_status=$?
cat "$venv_log"
rm -f "$venv_log"
[[ $venv_status -eq 0 ]] || { echo "the venv failed" >&2; exit "$venv_status"; }
[[ $build_status -eq 0 ]] || { echo "the build failed" >&2; exit "$build_status"; }
step "build done"

start_test_moto test

step "tests (moto at $MOTO_ENDPOINT)"
status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run "${targets[@]}" --run-ignored all --no-fail-fast \
    -E "not (test(/^${skip[0]}/) | test(=${skip[1]}))" || status=$?
else
  cargo test "${targets[@]}" --no-fail-fast -- --include-ignored \
    --skip "${skip[0]}" --skip "${skip[1]}" || status=$?
fi
[[ $status -eq 0 ]] || { echo "tests failed" >&2; exit "$status"; }
step "schemathesis: local-server against openapi.yaml"
scripts/schemathesis.sh
step "template checks"
scripts/check-template.sh
stop_moto
step "done"
