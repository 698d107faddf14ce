#!/usr/bin/env bash
# Sourced helpers: start_moto PORT (sets MOTO_PID, waits until it answers),
# stop_moto, free_port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_moto() {
  local port="$1" log="${2:-/dev/null}"
  "${VENV:-.venv}/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto exited; see $log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "moto did not answer on port $port" >&2
  return 1
}

# Stops the moto started by start_moto: SIGTERM, then SIGKILL after 2 s.
# moto keeps nothing worth a graceful stop, and its exit grows with what it
# holds (2.9 s after 3,000 items here; over a minute at the end of the old
# 20,000-lead `make test`).
stop_moto() {
  if [[ -n "${MOTO_PID:-}" ]]; then
    kill "$MOTO_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 "$MOTO_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=
  fi
}

# For tests and benchmarks: dummy credentials, no local endpoint of the
# caller's, moto on a free port stopped on exit, MOTO_ENDPOINT exported
# (the tests that need it are `#[ignore]`d by a plain `cargo test`).
start_test_moto() {
  export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_S3 AWS_PROFILE
  local port
  port="$(free_port)"
  mkdir -p .local
  trap stop_moto EXIT
  start_moto "$port" ".local/moto-$1.log"
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
}
