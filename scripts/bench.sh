#!/usr/bin/env bash
# `make bench`: the bulk Query efficiency figures (round trips, Count,
# ScannedCount) on 20,000 leads in moto, and the filter limits benchmark
# (the largest legal filter), built in release mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
scripts/venv.sh
start_test_moto bench
cargo test --release --test efficiency -- --nocapture
cargo bench --bench filter_limits
