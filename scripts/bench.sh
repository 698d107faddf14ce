#!/usr/bin/env bash
# `make bench` (not part of `make test`): builds the release `lead-export` and
# `local-server` and the bench tools, starts dynalite (DynamoDB) and moto
# (S3), generates the data there and prints one table (scripts/bench.py:
# the W1-W4 workloads, the leads per 1 MB Query page and the largest legal
# filter), each figure the median of BENCH_RUNS runs (default 5) with its
# spread, beside its target. BENCH_DYNAMODB=moto puts DynamoDB on moto too
# (far slower: moto reads the whole partition for every Query page).
# BENCH_LEADS=N (default 50000) scales the organization down for a quick
# run; BENCH_PROFILE=dev uses the debug build (for trying the script, not
# for figures); the table says the size, DynamoDB and build used. The
# hot-path benchmarks: `cargo bench --bench hot_paths` (BENCH_HOT=1 runs
# them here too).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
source scripts/dynalite.sh
backend="${BENCH_DYNAMODB:-dynalite}"
case "$backend" in
  dynalite | moto) ;;
  *) echo "BENCH_DYNAMODB must be dynalite or moto, not $backend" >&2; exit 2 ;;
esac
profile="${BENCH_PROFILE:-release}"
case "$profile" in
  release) dir=release ;;
  dev) dir=debug ;;
  *) echo "BENCH_PROFILE must be release or dev, not $profile" >&2; exit 2 ;;
esac
scripts/venv.sh
[[ "$backend" == moto ]] || scripts/node-modules.sh
target="${CARGO_TARGET_DIR:-target}"
echo "building the $profile binaries and the bench tools ..." >&2
# One cargo invocation for both: the bench targets bring the
# dev-dependencies, whose features cargo then unifies (test helpers of
# aws-smithy-http-client that the binaries never call); built apart, the
# AWS SDK would be compiled twice.
SECONDS=0
artifacts="$(cargo build --profile "$profile" --bin lead-export --bin local-server \
  --bench workloads --bench filter_limits --message-format=json-render-diagnostics)"
# The bench executables carry a hash in their names.
bench_exe() {
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1" <<<"$artifacts"
}
export BENCH_BIN="$target/$dir" BENCH_BUILD="$profile" BENCH_BUILD_SECONDS="$SECONDS"
BENCH_TOOL="$(bench_exe workloads)"
BENCH_FILTER_LIMITS="$(bench_exe filter_limits)"
export BENCH_TOOL BENCH_FILTER_LIMITS
mkdir -p .local
start_test_moto bench
export BENCH_S3_ENDPOINT="$MOTO_ENDPOINT" BENCH_DYNAMODB="$backend"
if [[ "$backend" == dynalite ]]; then
  start_test_dynalite bench
  export BENCH_DYNAMODB_ENDPOINT="$DYNALITE_ENDPOINT"
else
  export BENCH_DYNAMODB_ENDPOINT="$MOTO_ENDPOINT"
fi
.venv/bin/python scripts/bench.py
if [[ "${BENCH_HOT:-0}" == 1 ]]; then
  cargo bench --bench hot_paths
else
  echo "hot paths (item to lead, filter per lead, CSV row): cargo bench --bench hot_paths"
fi
