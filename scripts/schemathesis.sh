#!/usr/bin/env bash
# Holds the local server to openapi.yaml: schemathesis (pinned in
# requirements-dev.txt) with all its checks, against `local-server` over
# moto with a few demo leads and a valid token. A step of `make test`, after
# the tests (it uses the binaries they built and their moto, MOTO_ENDPOINT);
# alone it starts its own moto. Bounded: ST_MAX_EXAMPLES cases per phase
# (default 60), ST_COVERAGE_TIME seconds for the examples and coverage
# phases (default 45; they end by themselves in 25-65 s on this loaded
# 2-core machine), ST_FUZZING_TIME seconds of fuzzing (default 30; fuzzing
# repeats until its time is spent). Extra arguments go to both `st run`s
# (e.g. --seed N to replay a run); ST_SCHEMA names another schema file
# (default openapi.yaml). Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/moto.sh
VENV="${VENV:-.venv}"
bin="${CARGO_TARGET_DIR:-target}/debug"
for b in local-server seed-demo dev-token; do
  [[ -x "$bin/$b" ]] || { echo "$bin/$b is missing: run cargo build --bins first" >&2; exit 2; }
done
mkdir -p .local
if [[ -z "${MOTO_ENDPOINT:-}" ]]; then
  start_test_moto schemathesis
fi
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_ENDPOINT_URL="$MOTO_ENDPOINT"
export LEADS_TABLE=schemathesis-leads EXPORTS_BUCKET=schemathesis-exports CURSORS_TABLE=schemathesis-cursors
# The export jobs: their table and queue on the same moto, their worker in
# the local server.
export JOBS_TABLE=schemathesis-jobs JOBS_QUEUE=schemathesis-jobs
# A fresh secret: the token below is worthless anywhere else.
JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
export JWT_SECRET
# 12 leads in org-demo-a (4 in org-demo-b), among them the two ids of
# openapi.yaml's manual example, so that request exports real rows. A small
# inline limit sends larger exports through S3 (303), so both answers occur.
SEED_LEADS=12 "$bin/seed-demo" >/dev/null
JOBS_QUEUE_URL="$("$bin/seed-demo" --queue-url)"
export JOBS_QUEUE_URL
export INLINE_MAX_BYTES="${INLINE_MAX_BYTES:-2048}"
token="$("$bin/dev-token" org-demo-a 3600)"
port="$(free_port)"
PORT="$port" RUST_LOG=warn "$bin/local-server" >.local/schemathesis-server.log 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; stop_moto; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  kill -0 "$server" 2>/dev/null || { echo "local-server exited; see .local/schemathesis-server.log" >&2; exit 1; }
  sleep 0.1
done
# One job of org-demo-a, so that the status route is tested with an id
# that exists (its 200 bodies held to the schema while the in-process worker
# runs it) rather than only with random ids (404s); the config's
# [[operations]] block reads it as ST_JOB_ID.
ST_JOB_ID="$(curl -sS -X POST "http://127.0.0.1:$port/api/v1/operations/export-jobs" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"selection":{"mode":"bulk","targetCount":5,"filters":{}}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["jobId"])')"
export ST_JOB_ID
# Two runs, so that a slow coverage phase cannot starve fuzzing: the
# schema's examples and the coverage phase (boundary and negative values of
# every part of the schema), then fuzzing, each with its own time budget.
st() {
  SCHEMATHESIS_HOOKS=scripts/schemathesis_hooks.py "$VENV/bin/st" --config-file scripts/schemathesis.toml \
    run "${ST_SCHEMA:-openapi.yaml}" --url "http://127.0.0.1:$port" \
    -H "Authorization: Bearer $token" \
    --max-examples "${ST_MAX_EXAMPLES:-60}" \
    --generation-database none --no-color "$@"
}
status=0
st --phases examples,coverage --max-time "${ST_COVERAGE_TIME:-45}" \
  --report junit --report-junit-path .local/schemathesis/coverage.xml "$@" || status=$?
st --phases fuzzing --max-time "${ST_FUZZING_TIME:-30}" \
  --report junit --report-junit-path .local/schemathesis/fuzzing.xml "$@" || status=$?
exit "$status"
