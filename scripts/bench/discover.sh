#!/usr/bin/env bash
# Discovery at scale: a scan of 10,000 Postgres login roles and of 1,000
# IAM users (a fresh moto, installed into .cache/venv and started here),
# each next to the same catalog queries / IAM calls made straight.
# Usage: scripts/bench/discover.sh [roles, default 10000] [users, default 1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${QM_CACHE_DIR:-$PWD/.cache}"
source scripts/lib.sh
trap qm_cleanup EXIT
if [ ! -x "$cache/venv/bin/moto_server" ]; then
  ensure_python_venv
  [ -x "$cache/venv/bin/python" ] || python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
fi
start_moto "$cache/venv"
QM_SCALE_ROLES="${1:-10000}" QM_SCALE_USERS="${2:-1000}" cargo bench --bench discover_scale
