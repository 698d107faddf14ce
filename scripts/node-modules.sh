#!/usr/bin/env bash
# Installs the Node.js tools of package-lock.json (dynalite) into
# node_modules with `npm ci`, once; reinstalls when the lock file changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=node_modules/.lock-installed
if [[ -f "$stamp" ]] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is required (Node.js 20 or later)" >&2; exit 1; }
echo "installing node_modules (dynalite) with npm ci..." >&2
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
