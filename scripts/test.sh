#!/usr/bin/env bash
# `make test`: every test, the moto ones included (a plain `cargo test` lists
# them as ignored: they need the moto server this script starts on a free
# port and stops), the DynamoDB ones a second time with DynamoDB on dynalite
# (S3 on moto), then the template checks. Runs the tests with
# cargo-nextest when it is installed (all test binaries at once, one process
# per test), else with `cargo test`; meanwhile schemathesis holds the local
# server to openapi.yaml. Prints the time of each step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
source scripts/dynalite.sh
step() { printf '== %s (%ds so far)\n' "$1" "$SECONDS"; }
SECONDS=0
step "venv, node_modules and build, in parallel"
# The venv (pip) and node_modules (npm ci: dynalite), mostly network,
# install while cargo compiles.
venv_log=$(mktemp)
{ scripts/venv.sh && scripts/node-modules.sh; } >"$venv_log" 2>&1 &
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
[[ $venv_status -eq 0 ]] || { echo "the venv or node_modules failed" >&2; exit "$venv_status"; }
[[ $build_status -eq 0 ]] || { echo "the build failed" >&2; exit "$build_status"; }
step "build done"

start_test_moto test
start_test_dynalite test

step "tests and schemathesis, in parallel (moto at $MOTO_ENDPOINT)"
# schemathesis holds local-server to openapi.yaml (its own tables in the same
# moto); its phases are bounded in time, so it runs beside the tests rather
# than after them.
st_log=$(mktemp)
scripts/schemathesis.sh >"$st_log" 2>&1 &
st_pid=$!
status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run "${targets[@]}" --run-ignored all --no-fail-fast \
    -E "not (test(/^${skip[0]}/) | test(=${skip[1]}))" || status=$?
else
  cargo test "${targets[@]}" --no-fail-fast -- --include-ignored \
    --skip "${skip[0]}" --skip "${skip[1]}" || status=$?
fi
# The tests that need a DynamoDB (the ignored ones of these modules; the
# S3-only one aside) again, DynamoDB on dynalite: a difference fails.
step "the DynamoDB tests again, DynamoDB on dynalite ($DYNALITE_ENDPOINT)"
dynamodb=(moto:: audit:: observe:: efficiency:: store_differential:: runtime_loop:: cursors:: item_faults:: tenancy_concurrent:: emulator:: jobs_moto::)
s3_only=moto::s3_failures_answer_500_or_503_and_leave_nothing_behind
export DYNAMODB_ENDPOINT="$DYNALITE_ENDPOINT"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --test it --run-ignored only --no-fail-fast \
    -E "test(/^($(IFS='|'; echo "${dynamodb[*]}"))/) and not test(=$s3_only)" || status=$?
else
  cargo test --test it --no-fail-fast -- --ignored --skip "$s3_only" "${dynamodb[@]}" || status=$?
fi
unset DYNAMODB_ENDPOINT
st_status=0
wait "$st_pid" || st_status=$?
step "schemathesis: local-server against openapi.yaml"
cat "$st_log"
rm -f "$st_log"
[[ $status -eq 0 ]] || { echo "tests failed" >&2; exit "$status"; }
[[ $st_status -eq 0 ]] || { echo "schemathesis found a failure" >&2; exit "$st_status"; }
step "template checks"
scripts/check-template.sh
stop_dynalite
stop_moto
step "done"
