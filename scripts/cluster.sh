#!/usr/bin/env bash
# Starts a local three-node cluster on one PostgreSQL database, to try HA:
#   scripts/cluster.sh            # builds, starts, initializes, unseals
# Postgres: $QM_TEST_PG_URL, else 127.0.0.1:5432, else a throwaway one
# (Debian's packages, as scripts/test.sh does). Nodes listen on
# 127.0.0.1:8201, 8202 and 8203; logs and configs are in $QM_CLUSTER_DIR
# (default: a temp dir, printed). Ctrl-C stops everything.
# Try: kill -9 the active node's pid and keep using any other address.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

command -v curl >/dev/null || { echo "==> installing curl"; as_root apt-get install -y -qq curl >/dev/null; }

cargo build --release --quiet
dir="${QM_CLUSTER_DIR:-$(mktemp -d /tmp/qm-cluster.XXXXXX)}"
mkdir -p "$dir"
db="qm_cluster_$(date +%s)"
python3 - "$QM_TEST_PG_URL" "$db" <<'PY'
import subprocess, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
subprocess.run(["psql", "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432),
                "-U", u.username or "postgres", "-d", "postgres", "-qc",
                f"CREATE DATABASE {sys.argv[2]}"], check=True)
PY
url="${QM_TEST_PG_URL%/*}/$db"
pids=()
stop_nodes() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
QM_CLEANUP=(stop_nodes "${QM_CLEANUP[@]}")
for n in 1 2 3; do
  cat > "$dir/node$n.toml" <<TOML
api_addr = "http://127.0.0.1:820$n"
[listener]
address = "127.0.0.1:820$n"
[storage]
type = "postgresql"
connection_url = "$url"
ha_enabled = true
TOML
  target/release/qm server --config "$dir/node$n.toml" >"$dir/node$n.out" 2>"$dir/node$n.log" &
  pids+=($!)
  echo "==> node $n: http://127.0.0.1:820$n (pid $!, log $dir/node$n.log)"
done
for n in 1 2 3; do
  for _ in $(seq 100); do curl -s "http://127.0.0.1:820$n/v1/sys/seal-status" >/dev/null && break; sleep 0.1; done
done
init=$(curl -sf -X PUT -d '{"secret_shares":1,"secret_threshold":1}' http://127.0.0.1:8201/v1/sys/init)
key=$(echo "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0])')
token=$(echo "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])')
echo "$key" > "$dir/unseal-key"; echo "$token" > "$dir/root-token"
for n in 1 2 3; do
  curl -sf -X PUT -d "{\"key\":\"$key\"}" "http://127.0.0.1:820$n/v1/sys/unseal" >/dev/null
done
sleep 0.5
echo "==> storage: $db on ${QM_TEST_PG_URL##*@}"
echo "==> unseal key and root token: $dir/unseal-key, $dir/root-token"
for n in 1 2 3; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:820$n/v1/sys/health")
  role=standby; [ "$code" = 200 ] && role=active
  echo "    node $n (pid ${pids[$((n-1))]}): sys/health $code ($role)"
done
echo "==> export VAULT_ADDR=http://127.0.0.1:8202 VAULT_TOKEN=$token   # any node works"
echo "==> Ctrl-C stops the cluster"
wait
