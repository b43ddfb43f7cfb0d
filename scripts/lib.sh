#!/usr/bin/env bash
# Shared by scripts/test.sh and scripts/bench/*.sh: root helpers and
# finding or starting the PostgreSQL the tests and benchmarks use.
# Sourced, not run. Sets QM_TEST_PG_URL (and, with start_moto,
# QM_TEST_AWS_URL; with ensure_mariadb, QM_TEST_MYSQL_URL).

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

# Whether the host and port of URL $1 accept TCP (port $2 if the URL has none).
url_answers() {
  python3 - "$1" "${2:-5432}" <<'PY' >/dev/null 2>&1
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
socket.create_connection((u.hostname or "127.0.0.1", u.port or int(sys.argv[2])), timeout=2).close()
PY
}

pg_answers() { url_answers "$1" 5432; }

start_throwaway_postgres() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$initdb" ]; then
    echo "==> installing PostgreSQL (Debian packages)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq postgresql >/dev/null
    initdb=$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  fi
  # Globals: the EXIT trap runs after this function has returned.
  QM_PG_BIN=$(dirname "$initdb")
  QM_PG_DIR=$(mktemp -d /tmp/qm-test-pg.XXXXXX)
  QM_PG_RUNAS=()
  local port=$(( 40000 + RANDOM % 20000 ))
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$QM_PG_DIR"
    QM_PG_RUNAS=(runuser -u postgres --)
  fi
  echo "==> starting a throwaway PostgreSQL on 127.0.0.1:$port ($QM_PG_DIR)"
  "${QM_PG_RUNAS[@]}" "$QM_PG_BIN/initdb" -D "$QM_PG_DIR/data" -U postgres --auth=trust >/dev/null
  "${QM_PG_RUNAS[@]}" "$QM_PG_BIN/pg_ctl" -D "$QM_PG_DIR/data" -l "$QM_PG_DIR/log" -w \
    -o "-p $port -k $QM_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  QM_CLEANUP+=(stop_throwaway_postgres)
  export QM_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

stop_throwaway_postgres() {
  "${QM_PG_RUNAS[@]}" "$QM_PG_BIN/pg_ctl" -D "$QM_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$QM_PG_DIR"
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
