#!/usr/bin/env bash
# Sourced helpers: start_dynalite PORT [LOG] (dynalite, an in-memory
# DynamoDB, from node_modules; sets DYNALITE_PID, waits until it answers),
# stop_dynalite.
start_dynalite() {
  local port="$1" log="${2:-/dev/null}"
  node node_modules/dynalite/cli.js --port "$port" >"$log" 2>&1 &
  DYNALITE_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$DYNALITE_PID" 2>/dev/null; then
      echo "dynalite exited; see $log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "dynalite did not answer on port $port" >&2
  return 1
}

stop_dynalite() {
  if [[ -n "${DYNALITE_PID:-}" ]]; then
    kill "$DYNALITE_PID" 2>/dev/null || true
    wait "$DYNALITE_PID" 2>/dev/null || true
    DYNALITE_PID=
  fi
}

# For tests, after start_test_moto (scripts/moto.sh): dynalite on a free port
# beside moto, DYNALITE_ENDPOINT exported; both stopped on exit.
start_test_dynalite() {
  local port
  port="$(free_port)"
  trap 'stop_dynalite; stop_moto' EXIT
  start_dynalite "$port" ".local/dynalite-$1.log"
  export DYNALITE_ENDPOINT="http://127.0.0.1:$port"
}
