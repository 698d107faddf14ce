#!/usr/bin/env bash
# Sourced: the defaults every local command uses (documented in docs/configuration.md).
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export LEADS_TABLE="${LEADS_TABLE:-leads}"
export EXPORTS_BUCKET="${EXPORTS_BUCKET:-lead-exports}"
export AUDIT_TABLE="${AUDIT_TABLE:-export-audit}"
export CURSORS_TABLE="${CURSORS_TABLE:-export-cursors}"
export JWT_SECRET="${JWT_SECRET:-dev-secret-change-me}"
export PORT="${PORT:-3000}"
export MOTO_PORT="${MOTO_PORT:-5005}"
export DYNALITE_PORT="${DYNALITE_PORT:-5006}"
