#!/usr/bin/env bash
# `make fuzz`: the proptest fuzz targets of tests/it/fuzz.rs (ignored in
# `cargo test`), PROPTEST_CASES cases each (default 100,000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-100000}"
started=$(date +%s)
# Release: 100,000 cases per target take hours in a debug build.
cargo test --release --test it fuzz:: -- --ignored
echo "fuzz: $PROPTEST_CASES cases per target in $(( $(date +%s) - started )) s (including the build)"
