#!/usr/bin/env bash
# `make bench`: the bulk Query efficiency figures (round trips, Count,
# ScannedCount) on the issue's 20,000 leads with a 5% filter, in moto, and the
# filter limits benchmark (the largest legal filter), built in release mode.
# `make test` runs the same efficiency assertions on 2,000 leads.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
scripts/venv.sh
start_test_moto bench
EFFICIENCY_LEADS="${EFFICIENCY_LEADS:-20000}" \
  cargo test --release --test it -- --include-ignored --nocapture efficiency::
cargo bench --bench filter_limits
