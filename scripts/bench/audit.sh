#!/usr/bin/env bash
# What auditing and machine login cost, against a release server on sled.
# Prints, in one run:
#   - KV v2 reads at 16 connections without an audit device (the limit),
#     then with a file audit device (two HMAC'd, hash-chained lines per read);
#   - AppRole logins/s next to auth/token/create/s (its limit: both store
#     one token, fsync'd, the login also checks a hashed secret ID).
# Usage: scripts/bench/audit.sh [seconds per run, default 8]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-8}"
source scripts/bench/server.sh
api POST sys/mounts/secret '{"type":"kv-v2"}' >/dev/null
api POST secret/data/bench '{"data":{"password":"bench-password"}}' >/dev/null
api POST sys/auth/approle '{"type":"approle"}' >/dev/null
api POST auth/approle/role/bench '{"token_policies":"default","token_ttl":"1h"}' >/dev/null
role_id=$(api GET auth/approle/role/bench/role-id "" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["role_id"])')
secret_id=$(api POST auth/approle/role/bench/secret-id '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["secret_id"])')

post_lua() { # path body [token]
  local auth=""
  if [ -n "${3:-}" ]; then auth="wrk.headers[\"X-Vault-Token\"] = \"$3\""; fi
  cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
$auth
wrk.path = "/v1/$1"
wrk.body = '$2'
LUA
}
post_lua auth/approle/login "{\"role_id\":\"$role_id\",\"secret_id\":\"$secret_id\"}" > "$work/login.lua"
post_lua auth/token/create '{"policies":["default"],"ttl":"1h"}' "$token" > "$work/create.lua"

echo "==> $duration s per run, $(nproc) cores, wrk on the same machine"
read_plain=$(rate 2 16 -H "X-Vault-Token: $token" "$addr/v1/secret/data/bench")
create=$(rate 2 16 -s "$work/create.lua" "$addr")
login=$(rate 2 16 -s "$work/login.lua" "$addr")
api PUT sys/audit/file "{\"type\":\"file\",\"options\":{\"file_path\":\"$work/audit.log\"}}" >/dev/null
read_audit=$(rate 2 16 -H "X-Vault-Token: $token" "$addr/v1/secret/data/bench")
lines=$(wc -l < "$work/audit.log")
target/release/qm audit verify "$work/audit.log" >/dev/null

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
printf '\n%-42s %12s\n' "measurement (16 connections)" "requests/s"
printf '%-42s %12s\n' "KV v2 read, no audit device (limit)" "$read_plain"
printf '%-42s %12s\n' "KV v2 read, file audit device" "$read_audit"
printf '%-42s %12s\n' "auth/token/create (limit for a login)" "$create"
printf '%-42s %12s\n' "auth/approle/login" "$login"
echo
echo "audited reads / plain reads:  $(ratio "$read_audit" "$read_plain")  ($lines audit lines, chain verified)"
echo "approle logins / token create: $(ratio "$login" "$create")"
