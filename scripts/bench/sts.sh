#!/usr/bin/env bash
# STS issuance at 1 and 16 clients next to raw AssumeRole calls against the
# same moto endpoint (moto is installed into .cache/venv and started here).
# Usage: scripts/bench/sts.sh [seconds per run, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${QM_CACHE_DIR:-$PWD/.cache}"
source scripts/lib.sh
if [ ! -x "$cache/venv/bin/moto_server" ]; then
  ensure_python_venv
  [ -x "$cache/venv/bin/python" ] || python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
fi
[ -n "${QM_TEST_AWS_URL:-}" ] || start_moto "$cache/venv"
QM_BENCH_SECS="${1:-5}" cargo bench --bench sts
