#!/usr/bin/env bash
# KV v2 throughput against a real, sealed-then-unsealed server on sled (fsync
# on every acknowledged write). Prints, in one run:
#   - GET /v1/sys/health: the server's own ceiling on this machine;
#   - KV v2 reads at 2 and 64 connections (target: 64 conns >= 50% of health);
#   - KV v2 writes at 1 and 64 concurrent writers (target: 64 >= 5x of 1,
#     which only group commit makes possible when each write is fsync'd).
# Usage: scripts/bench/kv.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-10}"
source scripts/bench/server.sh
api POST sys/mounts/secret '{"type":"kv-v2"}' >/dev/null
api POST secret/data/bench '{"data":{"username":"app","password":"bench-password"}}' >/dev/null

cat > "$work/write.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-Vault-Token"] = "$token"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  local body = '{"data":{"n":"' .. counter .. '"}}'
  return wrk.format(nil, "/v1/secret/data/w/" .. (counter % 1000), nil, body)
end
LUA

echo "==> $duration s per run, $(nproc) cores, wrk on the same machine"
health=$(rate 2 64 "$addr/v1/sys/health")
read2=$(rate 2 2 -H "X-Vault-Token: $token" "$addr/v1/secret/data/bench")
read64=$(rate 2 64 -H "X-Vault-Token: $token" "$addr/v1/secret/data/bench")
write1=$(rate 1 1 -s "$work/write.lua" "$addr")
write64=$(rate 2 64 -s "$work/write.lua" "$addr")

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
printf '\n%-34s %12s\n' "measurement" "requests/s"
printf '%-34s %12s\n' "sys/health, 64 conns (ceiling)" "$health"
printf '%-34s %12s\n' "KV v2 read, 2 conns" "$read2"
printf '%-34s %12s\n' "KV v2 read, 64 conns" "$read64"
printf '%-34s %12s\n' "KV v2 write (fsync), 1 writer" "$write1"
printf '%-34s %12s\n' "KV v2 write (fsync), 64 writers" "$write64"
echo
echo "reads at 64 conns / health ceiling: $(ratio "$read64" "$health")  (target >= 0.50)"
echo "writes 64 writers / 1 writer:       $(ratio "$write64" "$write1")  (target >= 5.00)"
