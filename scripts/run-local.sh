#!/usr/bin/env bash
# `make run`: unless AWS_ENDPOINT_URL is set, dynalite for DynamoDB (on
# $DYNALITE_PORT, unless AWS_ENDPOINT_URL_DYNAMODB is set) and moto for S3
# and SQS (on $MOTO_PORT, unless AWS_ENDPOINT_URL_S3 is set); the tables,
# bucket and the export jobs' queue, demo leads (unless SEED=none;
# SEED_LEADS=N seeds N in org-demo-a, N/3 in org-demo-b, default 3000),
# then the endpoint and the export jobs on 127.0.0.1:$PORT, the jobs'
# worker in the same process.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/local-env.sh
source scripts/moto.sh
source scripts/dynalite.sh
scripts/venv.sh
scripts/node-modules.sh
# PROFILE=release serves the release build (default: debug). BUILD=0: use
# the binaries already in $CARGO_TARGET_DIR/<profile> instead of building them.
case "${PROFILE:-debug}" in
  debug | dev) profile=debug; build_args=(--bins) ;;
  release) profile=release; build_args=(--release --bin local-server --bin seed-demo --bin dev-token) ;;
  *) echo "PROFILE must be debug or release, got ${PROFILE}" >&2; exit 2 ;;
esac
[[ "${BUILD:-1}" == 0 ]] || cargo build --quiet "${build_args[@]}"
bin="${CARGO_TARGET_DIR:-target}/$profile"

cleanup() { kill "${ANNOUNCER:-}" 2>/dev/null || true; stop_dynalite; stop_moto; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# DynamoDB on dynalite: it answers a bulk export of 1000 leads in about a
# tenth of moto's time (docs/testing.md); S3 on moto.
mkdir -p .local
if [[ -z "${AWS_ENDPOINT_URL:-}" && -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]]; then
  echo "starting dynalite (DynamoDB) on 127.0.0.1:$DYNALITE_PORT (log: .local/dynalite.log)"
  start_dynalite "$DYNALITE_PORT" .local/dynalite.log
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNALITE_PORT"
fi
if [[ -z "${AWS_ENDPOINT_URL:-}" && -z "${AWS_ENDPOINT_URL_S3:-}" ]]; then
  echo "starting moto (S3) on 127.0.0.1:$MOTO_PORT (log: .local/moto.log)"
  start_moto "$MOTO_PORT" .local/moto.log
  export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$MOTO_PORT"
  # The export jobs' queue on the same moto.
  [[ -n "${AWS_ENDPOINT_URL_SQS:-}" ]] || export AWS_ENDPOINT_URL_SQS="$AWS_ENDPOINT_URL_S3"
fi

"$bin/seed-demo"
JOBS_QUEUE_URL="$("$bin/seed-demo" --queue-url)"
export JOBS_QUEUE_URL
token="$("$bin/dev-token" org-demo-a 86400)"
url="http://127.0.0.1:$PORT/api/v1/operations/export"
body='{"selection":{"mode":"bulk","startIndex":0,"targetCount":25,"filters":{"contact":{"location":{"any":{"include":["Berlin"]}}}}},"exportFields":["name","emails","jobTitle","city","companyName"]}'
jobs_url="http://127.0.0.1:$PORT/api/v1/operations/export-jobs"
job_body='{"selection":{"mode":"bulk","filters":{}},"exportFields":["name","emails","jobTitle","city","companyName"]}'
# The rows the curl returns, from the seeded data through the handler's code.
count="$("$bin/seed-demo" --count org-demo-a "$body")"
if [[ "$count" == 0 ]]; then
  expect="answers 400 No data to export: nothing is seeded"
else
  expect="answers X-Export-Count: $count, a header row and $count rows"
fi
# The curl is printed once the server answers, so it works as soon as pasted.
announce() {
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
      cat <<MSG

Export endpoint: $url
Try it (a bulk export of the first 25 leads in Berlin, as CSV; with this demo
data it $expect):

curl -sS -D - -X POST '$url' \\
  -H 'Authorization: Bearer $token' \\
  -H 'Content-Type: application/json' \\
  -d '$body'

An export job of every lead of org-demo-a (no targetCount: the whole
search), run by the worker in this process (docs/jobs.md): the POST answers
202 with the job's status URL; GET it until "status" is "SUCCEEDED", then
download its "url".

curl -sS -X POST '$jobs_url' \\
  -H 'Authorization: Bearer $token' \\
  -H 'Content-Type: application/json' \\
  -d '$job_body'

curl -sS '$jobs_url/<jobId>' -H 'Authorization: Bearer $token'

Ctrl-C stops the server, dynalite and moto.
MSG
      return 0
    fi
    sleep 0.1
  done
  echo "local-server did not answer on 127.0.0.1:$PORT" >&2
}
announce &
ANNOUNCER=$!
"$bin/local-server"
