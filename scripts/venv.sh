#!/usr/bin/env bash
# Creates the project-local Python venv (.venv) with requirements-dev.txt,
# once; reinstalls when requirements-dev.txt changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
stamp="$VENV/.requirements-installed"
if [[ -f "$stamp" ]] && cmp -s requirements-dev.txt "$stamp"; then
  exit 0
fi
echo "setting up $VENV (moto, cfn-lint, aws-sam-cli, schemathesis, cargo-lambda)..." >&2
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements-dev.txt
cp requirements-dev.txt "$stamp"
