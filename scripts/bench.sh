#!/usr/bin/env bash
# `make bench`: the bulk Query efficiency figures (round trips, Count,
# ScannedCount) on 20,000 leads in moto, built in release mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
scripts/venv.sh
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_ENDPOINT_URL AWS_PROFILE
port="$(free_port)"
mkdir -p .local
trap stop_moto EXIT
start_moto "$port" .local/moto-bench.log
MOTO_ENDPOINT="http://127.0.0.1:$port" REQUIRE_MOTO=1 \
  cargo test --release --test efficiency -- --nocapture
