#!/usr/bin/env bash
# Lints the SAM template offline: cfn-lint, then `sam validate --lint`.
# Usage: scripts/check-template.sh        (VENV=path/to/venv to override .venv)
# Needs: python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${VENV:-.venv}"
TEMPLATE="template.yaml"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0

for tool in cfn-lint sam; do
  if [[ ! -x "$VENV/bin/$tool" ]]; then
    echo "check-template: $VENV/bin/$tool not found; run: python3 -m venv $VENV && $VENV/bin/pip install -r requirements-dev.txt" >&2
    exit 2
  fi
done

status=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# cfn-lint: errors, warnings and informational findings all fail.
if "$VENV/bin/cfn-lint" --include-checks I -- "$TEMPLATE" >"$log" 2>&1; then
  echo "cfn-lint:     PASS ($TEMPLATE)"
else
  echo "cfn-lint:     FAIL ($TEMPLATE)"
  sed 's/^/  /' "$log"
  status=1
fi

# `sam validate --lint` runs cfn-lint's SAM checks locally; it needs no AWS
# account, but SAM CLI wants a region and credentials to exist, so give it
# dummy ones for this command only (never used: nothing is called).
if env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
     AWS_ACCESS_KEY_ID=offline-dummy AWS_SECRET_ACCESS_KEY=offline-dummy \
     AWS_DEFAULT_REGION="$AWS_REGION" \
     AWS_EC2_METADATA_DISABLED=true \
     "$VENV/bin/sam" validate --lint --template "$TEMPLATE" >"$log" 2>&1; then
  echo "sam validate: PASS ($TEMPLATE)"
else
  echo "sam validate: FAIL ($TEMPLATE)"
  sed 's/^/  /' "$log"
  status=1
fi

exit "$status"
