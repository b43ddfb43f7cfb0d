#!/usr/bin/env bash
# Fault: the database goes away while leases expire (issue 18, item 1).
# A dev server (`qm server --dev`, loopback) leases N Postgres users through
# a socat proxy in front of the machine's Postgres (found as for the tests,
# scripts/lib.sh: 127.0.0.1:5432, trust auth); the proxy is killed right
# after the last lease is issued (the shared Postgres keeps running), so
# the leases expire into the outage; after OUTAGE seconds the proxy comes
# back on the same port. Prints one line: what was injected, leases lost
# (a user left without its lease; must be 0), health answers other than
# 200 during the outage, and the seconds from the database's return to
# the last user dropped. Exits non-zero if a lease was lost, health
# failed, or the users were not all dropped within --max-wait.
#
# Usage: scripts/faults/db_outage.sh [--quick] [--leases N] [--ttl SECONDS]
#          [--outage SECONDS] [--max-wait SECONDS] [--qm PATH]
# Defaults are the issue's: 200 leases, 15 s TTL, 45 s outage.
# --quick: 20 leases, 3 s TTL, 8 s outage (CI runs the same scenario as
# tests/integration/db_outage.rs instead).
# The server binary: --qm, else $QM_BIN, else the release build, else
# the debug build ($CARGO_TARGET_DIR or target/; never built here).
set -euo pipefail
cd "$(dirname "$0")/../.."

leases=200 ttl=15 outage=45 max_wait=300 qm="${QM_BIN:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) leases=20 ttl=3 outage=8; shift ;;
    --leases) leases=$2; shift 2 ;;
    --ttl) ttl=$2; shift 2 ;;
    --outage) outage=$2; shift 2 ;;
    --max-wait) max_wait=$2; shift 2 ;;
    --qm) qm=$2; shift 2 ;;
    *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
for n in "$leases" "$ttl" "$outage" "$max_wait"; do
  [[ "$n" =~ ^[1-9][0-9]{0,5}$ ]] || { echo "counts and durations are positive integers: $n" >&2; exit 2; }
done

# Progress goes to stderr: stdout is the one result line.
source scripts/lib.sh >&2
command -v socat >/dev/null || { echo "==> installing socat (Debian package)" >&2; as_root apt-get install -y -qq socat >/dev/null; }

target="${CARGO_TARGET_DIR:-target}"
if [ -z "$qm" ]; then
  for candidate in "$target/release/qm" "$target/debug/qm"; do
    [ -x "$candidate" ] && { qm=$candidate; break; }
  done
fi
[ -n "$qm" ] || { echo "no qm binary in $target: build it first (cargo build --bin qm), or give --qm PATH" >&2; exit 2; }

pg_hostport=$(python3 -c 'import sys, urllib.parse; u = urllib.parse.urlparse(sys.argv[1]); print("%s:%s" % (u.hostname or "127.0.0.1", u.port or 5432))' "$QM_TEST_PG_URL")
work=$(mktemp -d /tmp/qm-fault-db.XXXXXX)
proxy_port=$(free_port)
api_port=$(free_port)
addr="http://127.0.0.1:$api_port"
token="fault-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
role="fault_$RANDOM$RANDOM"

# The proxy runs in its own process group, so killing the group also ends
# the connections its forked children carry (the database "goes away").
start_proxy() {
  setsid socat "TCP-LISTEN:$proxy_port,bind=127.0.0.1,reuseaddr,fork" "TCP:$pg_hostport" \
    2>>"$work/socat.log" &
  proxy_pid=$!
  local i
  for i in $(seq 50); do
    url_answers "tcp://127.0.0.1:$proxy_port" && return
    sleep 0.1
  done
  echo "the proxy did not start" >&2; exit 1
}
stop_proxy() {
  [ -n "${proxy_pid:-}" ] && kill -- "-$proxy_pid" 2>/dev/null || true
  [ -n "${proxy_pid:-}" ] && wait "$proxy_pid" 2>/dev/null || true
  proxy_pid=
}
fault_cleanup() {
  [ -n "${server_pid:-}" ] && { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; }
  stop_proxy
  rm -rf "$work"
}
QM_CLEANUP+=(fault_cleanup)

api() { # METHOD PATH [BODY]: prints the body; fails on a non-2xx answer
  local body=()
  [ $# -ge 3 ] && body=(-d "$3")
  curl -sf --max-time 10 -X "$1" -H "X-Vault-Token: $token" "${body[@]}" "$addr/v1/$2"
}
status() { # METHOD PATH: prints the HTTP status only
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" -H "X-Vault-Token: $token" \
    "$addr/v1/$2" || true
}

start_proxy
QM_DEV_ROOT_TOKEN_ID="$token" "$qm" server --dev --dev-listen-address "127.0.0.1:$api_port" \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do [ "$(status GET sys/health)" = 200 ] && break; sleep 0.1; done
[ "$(status GET sys/health)" = 200 ] || { cat "$work/server.err" >&2; echo "the server did not start" >&2; exit 1; }

api POST sys/mounts/database '{"type":"database"}' >/dev/null
api POST database/config/pg "{\"plugin_name\":\"postgresql-database-plugin\",\"connection_url\":\"postgresql://postgres@127.0.0.1:$proxy_port/postgres?sslmode=disable\",\"allowed_roles\":\"*\",\"max_open_connections\":8}" >/dev/null
api POST "database/roles/$role" "{\"db_name\":\"pg\",\"creation_statements\":[\"CREATE ROLE \\\"{{name}}\\\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'\"],\"default_ttl\":\"${ttl}s\",\"max_ttl\":\"1h\"}" >/dev/null

echo "==> issuing $leases leases of $role (TTL ${ttl}s)" >&2
export addr token role
seq "$leases" | xargs -P 8 -I{} sh -c \
  'curl -sf --max-time 30 -H "X-Vault-Token: $token" "$addr/v1/database/creds/$role" | jq -r "[.lease_id, .data.username] | @tsv"' \
  >"$work/leases.tsv"
issued=$(wc -l <"$work/leases.tsv")
[ "$issued" -eq "$leases" ] || { echo "issued $issued of $leases leases" >&2; exit 1; }
users_sql="ARRAY[$(cut -f2 "$work/leases.tsv" | sed "s/.*/'&'/" | paste -sd,)]::text[]"
users_left() {
  psql "$QM_TEST_PG_URL" -Atqc "SELECT count(*) FROM pg_roles WHERE rolname = ANY($users_sql)"
}

# Leases lost: users that still exist while their lease is gone from the
# ledger (one LIST of the role's leases, one query of the users).
lost_leases() {
  local listed existing
  listed=$(api LIST "sys/leases/lookup/database/creds/$role/" | jq -r '.data.keys[]' || true)
  existing=$(psql "$QM_TEST_PG_URL" -Atqc "SELECT rolname FROM pg_roles WHERE rolname = ANY($users_sql)")
  LISTED=$listed EXISTING=$existing python3 -c '
import os, sys
listed = set(os.environ["LISTED"].split())
existing = set(os.environ["EXISTING"].split())
lost = 0
for line in open(sys.argv[1]):
    lease, user = line.rstrip("\n").split("\t")
    lost += user in existing and lease.rsplit("/", 1)[-1] not in listed
print(lost)' "$work/leases.tsv"
}

echo "==> cutting the database off for ${outage}s" >&2
stop_proxy
cut_at=$EPOCHREALTIME
unhealthy=0 unserved=0
while awk -v now="$EPOCHREALTIME" -v end="$cut_at" -v d="$outage" 'BEGIN { exit !(now < end + d - 1) }'; do
  [ "$(status GET sys/health)" = 200 ] || unhealthy=$((unhealthy + 1))
  [ "$(status GET sys/mounts)" = 200 ] || unserved=$((unserved + 1))
  sleep 1
done
lost=$(lost_leases)
while awk -v now="$EPOCHREALTIME" -v end="$cut_at" -v d="$outage" 'BEGIN { exit !(now < end + d) }'; do
  sleep 0.1
done
start_proxy
back_at=$EPOCHREALTIME
echo "==> the database is back; waiting for the users to be dropped (at most ${max_wait}s)" >&2
done_at=
while awk -v now="$EPOCHREALTIME" -v start="$back_at" -v d="$max_wait" 'BEGIN { exit !(now < start + d) }'; do
  if [ "$(users_left)" = 0 ]; then done_at=$EPOCHREALTIME; break; fi
  sleep 0.2
done
lost_after=$(lost_leases)
lost=$((lost > lost_after ? lost : lost_after))
irrevocable=$(api GET 'sys/leases/count?type=irrevocable' | jq -r .data.lease_count || echo unknown)

injected="postgres unreachable for ${outage}s (proxy killed, connections dropped) while $leases leases with a ${ttl}s TTL expired"
if [ -n "$done_at" ]; then
  recovery=$(awk -v a="$back_at" -v b="$done_at" 'BEGIN { printf "%.1f", b - a }')
  echo "db_outage: injected $injected; leases lost $lost; health non-200 $unhealthy, other requests failed $unserved; last user dropped ${recovery}s after the database returned; irrevocable $irrevocable"
else
  echo "db_outage: injected $injected; leases lost $lost; health non-200 $unhealthy, other requests failed $unserved; $(users_left) users still exist ${max_wait}s after the database returned; irrevocable $irrevocable"
  exit 1
fi
[ "$lost" = 0 ] && [ "$unhealthy" = 0 ] && [ "$unserved" = 0 ]
