#!/usr/bin/env bash
# `make bench` (not part of `make test`): builds the release `lead-export` and
# `local-server` and the bench tools, starts moto, generates the data there
# and prints one table (scripts/bench.py: the W1-W4 workloads and the largest
# legal filter), each figure the median of BENCH_RUNS runs (default 5) with
# its spread, beside its target. BENCH_LEADS=N (default 50000) scales the
# organization down for a quick run; the table says the size used. The
# hot-path benchmarks: `cargo bench --bench hot_paths` (BENCH_HOT=1 runs
# them here too).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
scripts/venv.sh
target="${CARGO_TARGET_DIR:-target}"
echo "building the release binaries and the bench tools ..." >&2
# One cargo invocation for both: the bench targets bring the
# dev-dependencies, whose features cargo then unifies (test helpers of
# aws-smithy-http-client that the binaries never call); built apart, the
# AWS SDK would be compiled twice.
artifacts="$(cargo build --release --bin lead-export --bin local-server \
  --bench workloads --bench filter_limits --message-format=json-render-diagnostics)"
# The bench executables carry a hash in their names.
bench_exe() {
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1" <<<"$artifacts"
}
export BENCH_BIN="$target/release"
BENCH_TOOL="$(bench_exe workloads)"
BENCH_FILTER_LIMITS="$(bench_exe filter_limits)"
export BENCH_TOOL BENCH_FILTER_LIMITS
start_test_moto bench
.venv/bin/python scripts/bench.py
if [[ "${BENCH_HOT:-0}" == 1 ]]; then
  cargo bench --bench hot_paths
else
  echo "hot paths (item to lead, filter per lead, CSV row): cargo bench --bench hot_paths"
fi
