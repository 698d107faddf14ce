#!/usr/bin/env bash
# `make run`: moto (unless AWS_ENDPOINT_URL is set), the table and bucket,
# demo leads (unless SEED=none), then the endpoint on 127.0.0.1:$PORT.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/local-env.sh
source scripts/moto.sh
scripts/venv.sh
cargo build --quiet --bins

cleanup() { stop_moto; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "${AWS_ENDPOINT_URL:-}" ]]; then
  mkdir -p .local
  echo "starting moto on 127.0.0.1:$MOTO_PORT (log: .local/moto.log)"
  start_moto "$MOTO_PORT" .local/moto.log
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
fi

target/debug/seed-demo
token="$(target/debug/dev-token org-demo-a 86400)"
url="http://127.0.0.1:$PORT/api/v1/operations/export"
cat <<MSG

Export endpoint: $url  (org-demo-a has 3000 demo leads, org-demo-b 1000)
Try it (a bulk export of the first 25 leads in Berlin, as CSV):

curl -sS -D - -X POST '$url' \\
  -H 'Authorization: Bearer $token' \\
  -H 'Content-Type: application/json' \\
  -d '{"selection":{"mode":"bulk","startIndex":0,"targetCount":25,"filters":{"contact":{"location":{"any":{"include":["Berlin"]}}}}},"exportFields":["name","emails","jobTitle","city","companyName"]}'

Ctrl-C stops the server and moto.
MSG
target/debug/local-server
