#!/usr/bin/env bash
# `make load`: builds the binaries (debug; PROFILE=release for an optimized
# build), then runs scripts/load.py, which starts its own moto and server on
# free ports of 127.0.0.1 and stops both at the end and on Ctrl-C.
# Extra options go through LOAD_ARGS (see `scripts/load.py --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/venv.sh
profile="${PROFILE:-debug}"
if [[ $profile == release ]]; then
  cargo build --quiet --release --bins
else
  cargo build --quiet --bins
fi
exec "${VENV:-.venv}/bin/python" scripts/load.py --bin-dir "${CARGO_TARGET_DIR:-target}/$profile" "$@"
