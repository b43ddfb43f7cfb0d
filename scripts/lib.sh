#!/usr/bin/env bash
# Shared by scripts/test.sh and scripts/bench/*.sh: root helpers and
# finding or starting the PostgreSQL the tests and benchmarks use.
# Sourced, not run. Sets QM_TEST_PG_URL (and, with start_moto,
# QM_TEST_AWS_URL; with ensure_mariadb, QM_TEST_MYSQL_URL; with
# start_tls_postgres, QM_TEST_PG_TLS_URL and the certificate paths).

# Cleanups to run at exit, in order (a single EXIT trap runs them all).
QM_CLEANUP=()
qm_cleanup() { local c; for c in "${QM_CLEANUP[@]}"; do eval "$c"; done; }
trap qm_cleanup EXIT

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

# The project's Python venv (.cache/venv) with the PyPI packages given
# (pip specs) installed when BINARY, which they bring, is not there yet.
# Usage: ensure_venv_tool BINARY SPEC...
ensure_venv_tool() {
  local venv=.cache/venv binary=$1
  shift
  [ -x "$venv/bin/$binary" ] && return
  ensure_python_venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

# Whether the host and port of URL $1 accept TCP (port $2 if the URL has none).
url_answers() {
  python3 - "$1" "${2:-5432}" <<'PY' >/dev/null 2>&1
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
socket.create_connection((u.hostname or "127.0.0.1", u.port or int(sys.argv[2])), timeout=2).close()
PY
}

pg_answers() { url_answers "$1" 5432; }

# Sets QM_PG_BIN to the newest installed PostgreSQL's bin directory
# (installing Debian's postgresql package if there is none) and
# QM_PG_RUNAS to the command prefix that runs its servers: as the
# `postgres` OS user when we are root (postgres refuses to run as root).
find_postgres() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$initdb" ]; then
    echo "==> installing PostgreSQL (Debian packages)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq postgresql >/dev/null
    initdb=$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  fi
  QM_PG_BIN=$(dirname "$initdb")
  QM_PG_RUNAS=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    QM_PG_RUNAS=(runuser -u postgres --)
  fi
}

# A new temp directory named after $1 that the server user owns.
postgres_temp_dir() {
  local dir
  dir=$(mktemp -d "/tmp/$1.XXXXXX")
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  echo "$dir"
}

# A TCP port on loopback that nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_throwaway_postgres() {
  find_postgres
  # Globals: the EXIT trap runs after this function has returned.
  QM_PG_DIR=$(postgres_temp_dir qm-test-pg)
  local port=$(( 40000 + RANDOM % 20000 ))
  echo "==> starting a throwaway PostgreSQL on 127.0.0.1:$port ($QM_PG_DIR)"
  "${QM_PG_RUNAS[@]}" "$QM_PG_BIN/initdb" -D "$QM_PG_DIR/data" -U postgres --auth=trust >/dev/null
  "${QM_PG_RUNAS[@]}" "$QM_PG_BIN/pg_ctl" -D "$QM_PG_DIR/data" -l "$QM_PG_DIR/log" -w \
    -o "-p $port -k $QM_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  QM_CLEANUP+=('stop_postgres "$QM_PG_DIR"')
  export QM_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

# Stops the throwaway PostgreSQL whose temp directory is $1 and removes it.
stop_postgres() {
  "${QM_PG_RUNAS[@]}" "$QM_PG_BIN/pg_ctl" -D "$1/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$1"
}

# Starts a second PostgreSQL that speaks TLS only, for the TLS tests
# (tests/integration/pg_tls.rs), in a temp dir on a free loopback port,
# stopped at exit. openssl makes a CA, a server certificate for localhost
# and 127.0.0.1, and a client certificate; the server runs with ssl=on,
# trusts that CA for client certificates, and its pg_hba.conf has hostssl
# rules only: qm_tls_cert logs in by certificate (`cert`, which implies
# clientcert=verify-full), everyone else by SCRAM password (qm_tls_password,
# and the users the tests lease). Both are superusers.
# Exports QM_TEST_PG_TLS_URL (qm_tls_password's URL, no ssl parameters),
# QM_TEST_PG_TLS_CA, QM_TEST_PG_TLS_CLIENT_CERT, QM_TEST_PG_TLS_CLIENT_KEY
# and QM_TEST_PG_TLS_CERT_USER; all kept as they are if
# QM_TEST_PG_TLS_URL is set already.
start_tls_postgres() {
  if [ -n "${QM_TEST_PG_TLS_URL:-}" ]; then
    echo "==> TLS-only PostgreSQL from QM_TEST_PG_TLS_URL"
    return
  fi
  find_postgres
  if ! command -v openssl >/dev/null; then
    echo "==> installing openssl (Debian package)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq openssl >/dev/null
  fi
  # Global: the EXIT trap runs after this function has returned.
  QM_PG_TLS_DIR=$(postgres_temp_dir qm-test-pgtls)
  local dir=$QM_PG_TLS_DIR port password
  port=$(free_port)
  password=$(openssl rand -hex 16)
  echo "==> starting a TLS-only PostgreSQL on 127.0.0.1:$port ($dir)"
  make_test_certificates "$dir/certs" qm_tls_cert
  # The server's key must be its user's and private; so must the client's
  # (libpq's rule, which qm-pg-connect follows).
  [ "$(id -u)" = 0 ] && chown postgres "$dir/certs/server.key"
  QM_CLEANUP+=('stop_postgres "$QM_PG_TLS_DIR"')
  # Thrown away at exit: no fsync (halves the start on a busy disk).
  "${QM_PG_RUNAS[@]}" "$QM_PG_BIN/initdb" -D "$dir/data" -U postgres --no-sync \
    --auth-local=trust --auth-host=reject >/dev/null
  "${QM_PG_RUNAS[@]}" tee "$dir/data/pg_hba.conf" >/dev/null <<'HBA'
# TLS only (scripts/lib.sh, start_tls_postgres): the set-up over the
# Unix socket, and over TCP nothing without TLS.
local    all  postgres                   trust
hostssl  all  qm_tls_cert  127.0.0.1/32  cert
hostssl  all  all          127.0.0.1/32  scram-sha-256
HBA
  "${QM_PG_RUNAS[@]}" "$QM_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off \
        -c ssl=on -c ssl_cert_file=$dir/certs/server.crt \
        -c ssl_key_file=$dir/certs/server.key -c ssl_ca_file=$dir/certs/ca.crt" \
    start >/dev/null || { cat "$dir/log" >&2; return 1; }
  "$QM_PG_BIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 -c "
    CREATE ROLE qm_tls_password LOGIN SUPERUSER PASSWORD '$password';
    CREATE ROLE qm_tls_cert LOGIN SUPERUSER;" >/dev/null
  export QM_TEST_PG_TLS_URL="postgresql://qm_tls_password:$password@127.0.0.1:$port/postgres"
  export QM_TEST_PG_TLS_CA="$dir/certs/ca.crt"
  export QM_TEST_PG_TLS_CLIENT_CERT="$dir/certs/client.crt"
  export QM_TEST_PG_TLS_CLIENT_KEY="$dir/certs/client.key"
  export QM_TEST_PG_TLS_CERT_USER=qm_tls_cert
}

# Makes, in directory $1: ca.crt (a CA), server.crt/.key (for localhost and
# 127.0.0.1) and client.crt/.key (for the database user $2), signed by the
# CA, P-256 keys readable by their owner only, valid for a week.
make_test_certificates() {
  local certs=$1 client_user=$2
  mkdir -p "$certs"
  (
    cd "$certs"
    umask 077
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout ca.key -out ca.crt -days 7 -subj "/CN=Quartermaster test CA" 2>/dev/null
    issue_test_certificate server localhost \
      "subjectAltName=DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth"
    issue_test_certificate client "$client_user" "extendedKeyUsage=clientAuth"
    chmod go+r ca.crt server.crt client.crt
  )
}

# In the CA's directory: NAME.crt and NAME.key for common name CN, with the
# extension lines given after it.
issue_test_certificate() {
  local name=$1 cn=$2
  shift 2
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "$@" \
    >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 7 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
}

if [ -n "${QM_TEST_PG_URL:-}" ]; then
  echo "==> PostgreSQL from QM_TEST_PG_URL"
elif pg_answers "postgresql://postgres@127.0.0.1:5432/postgres"; then
  export QM_TEST_PG_URL="postgresql://postgres@127.0.0.1:5432/postgres"
  echo "==> PostgreSQL at 127.0.0.1:5432"
else
  start_throwaway_postgres
fi


# Starts moto (an AWS STS/IAM endpoint on loopback) from the venv at $1.
start_moto() {
  local venv=$1 port
  port=$(( 40000 + RANDOM % 20000 ))
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/qm-moto-$port.log" 2>&1 &
  QM_MOTO_PID=$!
  QM_CLEANUP+=('kill "$QM_MOTO_PID" 2>/dev/null || true')
  local i
  for i in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=1).close()" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  export QM_TEST_AWS_URL="http://127.0.0.1:$port"
  echo "==> moto (STS and IAM) at $QM_TEST_AWS_URL"
}

# Sets QM_TEST_MYSQL_URL: kept if set, else 127.0.0.1:3306 if it answers
# (as root with no password), else a throwaway MariaDB in a temp dir
# (Debian's mariadb-server installed if mariadbd is missing), stopped at exit.
ensure_mariadb() {
  if [ -n "${QM_TEST_MYSQL_URL:-}" ]; then
    echo "==> MariaDB/MySQL from QM_TEST_MYSQL_URL"
  elif url_answers "mysql://root@127.0.0.1:3306/" 3306; then
    export QM_TEST_MYSQL_URL="mysql://root@127.0.0.1:3306/"
    echo "==> MariaDB/MySQL at 127.0.0.1:3306"
  else
    start_throwaway_mariadb
  fi
}

start_throwaway_mariadb() {
  if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
    echo "==> installing MariaDB (Debian packages)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
  fi
  local mariadbd port i
  mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  port=$(( 40000 + RANDOM % 20000 ))
  # Globals: the EXIT trap runs after this function has returned.
  QM_MY_DIR=$(mktemp -d /tmp/qm-test-mariadb.XXXXXX)
  local as_user=()
  [ "$(id -u)" = 0 ] && as_user=(--user=root)
  echo "==> starting a throwaway MariaDB on 127.0.0.1:$port ($QM_MY_DIR)"
  mariadb-install-db --no-defaults "${as_user[@]}" --datadir="$QM_MY_DIR/data" \
    --auth-root-authentication-method=normal --skip-test-db >"$QM_MY_DIR/install.log" 2>&1
  "$mariadbd" --no-defaults "${as_user[@]}" --datadir="$QM_MY_DIR/data" \
    --socket="$QM_MY_DIR/sock" --port="$port" --bind-address=127.0.0.1 \
    --pid-file="$QM_MY_DIR/pid" --log-error="$QM_MY_DIR/log" --max-connections=300 \
    >"$QM_MY_DIR/stderr.log" 2>&1 &
  QM_MY_PID=$!
  QM_CLEANUP+=(stop_throwaway_mariadb)
  for i in $(seq 300); do
    mariadb-admin --no-defaults --socket="$QM_MY_DIR/sock" -u root ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  # Root over TCP from loopback with no password, and no anonymous users
  # (they would shadow the '%' users the tests create).
  mariadb --no-defaults --socket="$QM_MY_DIR/sock" -u root -e "
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
    DELETE FROM mysql.global_priv WHERE User = '';
    FLUSH PRIVILEGES;"
  export QM_TEST_MYSQL_URL="mysql://root@127.0.0.1:$port/"
}

stop_throwaway_mariadb() {
  kill "$QM_MY_PID" 2>/dev/null || true
  wait "$QM_MY_PID" 2>/dev/null || true
  rm -rf "$QM_MY_DIR"
}

# Headless Chromium and its chromedriver for the console's browser tests
# (tests/integration/console.rs): Debian's chromium and chromium-driver,
# installed if missing. Exports QM_TEST_CHROMIUM and QM_TEST_CHROMEDRIVER.
ensure_chromium() {
  if [ -z "${QM_TEST_CHROMEDRIVER:-}" ] && ! command -v chromedriver >/dev/null; then
    echo "==> installing chromium and chromium-driver (Debian packages)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  export QM_TEST_CHROMEDRIVER="${QM_TEST_CHROMEDRIVER:-$(command -v chromedriver)}"
  export QM_TEST_CHROMIUM="${QM_TEST_CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"
  echo "==> $("$QM_TEST_CHROMEDRIVER" --version | head -n 1)"
}

# axe-core (the accessibility engine the console test runs in Chromium),
# fetched once from the npm registry as a tarball (no npm needed), its
# SHA-1 checked against the registry's pinned `shasum`. Exports QM_TEST_AXE.
AXE_VERSION=4.10.2
AXE_SHA1=85228e3e1d8b8532a27659b332e39b7fa0e022df
ensure_axe() {
  local cache="$1" dir="$1/axe-core-$AXE_VERSION"
  if [ -z "${QM_TEST_AXE:-}" ] && [ ! -f "$dir/axe.min.js" ]; then
    echo "==> fetching axe-core $AXE_VERSION from the npm registry"
    local tgz="$cache/axe-core-$AXE_VERSION.tgz"
    curl -fsSL -o "$tgz" "https://registry.npmjs.org/axe-core/-/axe-core-$AXE_VERSION.tgz"
    echo "$AXE_SHA1  $tgz" | sha1sum -c --quiet -
    mkdir -p "$dir"
    tar -xzf "$tgz" -C "$dir" --strip-components=1 package/axe.min.js
    rm -f "$tgz"
  fi
  export QM_TEST_AXE="${QM_TEST_AXE:-$dir/axe.min.js}"
}
