# Sourced by the wrk benchmarks: installs wrk and curl if missing, builds
# the release binary, and starts a release server on sled in a temp dir
# (or on QM_BENCH_STORAGE_URL's Postgres),
# initialized and unsealed. Sets: work, addr, token; api METHOD PATH BODY;
# rate THREADS CONNS WRK-ARGS... (requests/s; fails on any non-2xx).
command -v wrk >/dev/null || { echo "==> installing wrk"; apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { echo "==> installing curl"; apt-get install -y -qq curl >/dev/null; }
cargo build --release --quiet

work="$(mktemp -d)"
port=$(( 20000 + RANDOM % 20000 ))
addr="http://127.0.0.1:$port"
cat > "$work/server.toml" <<TOML
log_level = "warn"
[listener]
address = "127.0.0.1:$port"
[storage]
path = "$work/data"
TOML
# QM_BENCH_STORAGE_URL=postgres://... runs the server on postgresql storage
# (an empty database) instead of sled.
if [ -n "${QM_BENCH_STORAGE_URL:-}" ]; then
  printf 'type = "postgresql"\nconnection_url = "%s"\n' "$QM_BENCH_STORAGE_URL" >> "$work/server.toml"
fi
target/release/qm server --config "$work/server.toml" > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -s "$addr/v1/sys/seal-status" >/dev/null && break; sleep 0.1; done

init=$(curl -sf -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$addr/v1/sys/init")
key=$(echo "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0])')
token=$(echo "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])')
api() { curl -sf -X "$1" -H "X-Vault-Token: $token" -d "$3" "$addr/v1/$2"; }
api PUT sys/unseal "{\"key\":\"$key\"}" >/dev/null

rate() {
  local threads=$1 conns=$2; shift 2
  local out
  out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$@")
  if echo "$out" | grep -q "Non-2xx"; then echo "wrk saw errors: $out" >&2; exit 1; fi
  echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}
