#!/usr/bin/env bash
# A soak: a release server on sled issues Postgres credentials for DURATION
# at 80% of the maximum rate measured at the start of the same run, with a
# 10 s role TTL so expiry revokes users all along, and KV v2 reads and
# writes beside it (scripts/faults/soak.py drives and judges). Before it,
# the physical limit: pgbench creating and dropping roles straight in
# Postgres at the same concurrency. Loopback only; the server, its temp
# dir and any user of this run are gone at exit, even on failure.
#
# Prints one result line: what was injected, what was lost (errors, leases
# and users left after the TTL: all must be 0), issuance p99 in the first
# and last 5 minutes (the first and last fifth of shorter runs; target:
# last <= 1.5x first) and the server's RSS after warm-up and at the end
# (target: < 10% growth), and its heap beside it. Exits 1 if a target is
# missed.
#
# QM_SOAK_BIN runs that binary instead of building the release one;
# QM_SOAK_TRACE=DIR keeps the server's RSS each second (rss.tsv), its heap
# every 10 s (heap.tsv), the issuance p99 of each 30 s (latency.tsv) and
# its log with the store's checkpoints (server.log) in DIR;
# QM_SOAK_STRICT=0 checks only errors and leftovers (the CI run,
# tests/integration/soak.rs, on a debug build beside other tests).
# Usage: scripts/faults/soak.sh [DURATION: 90s, 30m; default 30m]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-30m}"
case "$duration" in
  *m) secs=${duration%m}; [[ $secs =~ ^[0-9]+$ ]] && secs=$(( secs * 60 )) ;;
  *s) secs=${duration%s} ;;
  *) secs=$duration ;;
esac
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 20 ]; then
  echo "usage: $0 [DURATION, at least 20s: 90s, 30m]" >&2
  exit 2
fi
ttl=10

source scripts/lib.sh
pg_url="$QM_TEST_PG_URL"
command -v psql >/dev/null || { echo "psql is missing (Debian: postgresql-client)" >&2; exit 1; }
pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "${QM_SOAK_BIN:-}" ]; then
  qm="$QM_SOAK_BIN"
else
  cargo build --release --quiet
  qm="${CARGO_TARGET_DIR:-target}/release/qm"
fi

work=$(mktemp -d /tmp/qm-soak.XXXXXX)
run=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
role="sk$run"
# The default username: v-<display name>-<first 8 of the role>-...
user_prefix="v-root-$role-"
raw_prefix="raw_soak_${run}_"
port=$(free_port)
addr="http://127.0.0.1:$port"
cat > "$work/server.toml" <<TOML
log_level = "warn"
[listener]
address = "127.0.0.1:$port"
[storage]
path = "$work/data"
TOML

# Drops what this run may have left in Postgres (after the judgement).
drop_run_roles() {
  psql "$pg_url" -q -v ON_ERROR_STOP=1 -c "DO \$\$DECLARE r text; BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, '$user_prefix')
      OR starts_with(rolname, '$raw_prefix') LOOP EXECUTE format('DROP ROLE %I', r); END LOOP;
    END\$\$;" >/dev/null 2>&1 || true
}
trace="${QM_SOAK_TRACE:-}"
if [ -n "$trace" ]; then
  mkdir -p "$trace"
  # The checkpoints log at info; requests stay at warn.
  export RUST_LOG="warn,quartermaster::storage=info"
fi
"$qm" server --config "$work/server.toml" > "$work/server.out" 2> "$work/server.err" &
server=$!
QM_CLEANUP+=("kill $server 2>/dev/null; wait $server 2>/dev/null; drop_run_roles; ${trace:+cp '$work/server.err' '$trace/server.log';} rm -rf '$work'")
for _ in $(seq 100); do curl -s --max-time 2 "$addr/v1/sys/seal-status" >/dev/null && break; sleep 0.1; done

init=$(curl -sf --max-time 30 -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$addr/v1/sys/init")
key=$(echo "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0])')
token=$(echo "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])')
api() { curl -sf --max-time 30 -X "$1" -H "X-Vault-Token: $token" -d "$3" "$addr/v1/$2" >/dev/null; }
api PUT sys/unseal "{\"key\":\"$key\"}"
api POST sys/mounts/secret '{"type":"kv-v2"}'
api POST sys/mounts/database '{"type":"database"}'
api POST database/config/pg "{\"plugin_name\":\"postgresql-database-plugin\",\"connection_url\":\"$pg_url\",\"allowed_roles\":\"*\",\"max_open_connections\":16}"
api POST "database/roles/$role" '{"db_name":"pg","creation_statements":"CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"'","default_ttl":"'"$ttl"'s","max_ttl":"'"$ttl"'s"}'

# The physical limit: the same CREATE and the plugin's default revocation
# (terminate sessions, reassign, drop owned, drop role), one pair per
# pgbench transaction, 16 connections, straight to Postgres.
raw_rate=n/a
if [ -n "$pgbench" ]; then
  cat > "$work/raw.sql" <<SQL
\set n random(1, 1000000000) * 100 + :client_id
CREATE ROLE ${raw_prefix}:n WITH LOGIN PASSWORD 'A1a-soakpassword00000000000000' VALID UNTIL '2100-01-01 00:00:00+0000';
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${raw_prefix}:n' AND pid <> pg_backend_pid();
REASSIGN OWNED BY ${raw_prefix}:n TO CURRENT_USER;
DROP OWNED BY ${raw_prefix}:n;
DROP ROLE IF EXISTS ${raw_prefix}:n;
SQL
  raw_rate=$(timeout 60 "$pgbench" -n -c 16 -j 2 -T 5 -f "$work/raw.sql" "$pg_url" 2>"$work/pgbench.err" \
    | awk '/^tps/ {printf "%.0f", $3}') || raw_rate=n/a
  [ -n "$raw_rate" ] || raw_rate=n/a
fi

SOAK_ADDR="$addr" SOAK_TOKEN="$token" SOAK_PID="$server" SOAK_SECS="$secs" SOAK_TTL="$ttl" \
  SOAK_ROLE="$role" SOAK_PG_URL="$pg_url" SOAK_PSQL="$(command -v psql)" \
  SOAK_USER_PREFIX="$user_prefix" SOAK_RAW_RATE="$raw_rate" SOAK_TRACE="$trace" \
  timeout $(( secs + ttl * 2 + 300 )) python3 scripts/faults/soak.py
