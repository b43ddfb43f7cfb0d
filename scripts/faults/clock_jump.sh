#!/usr/bin/env bash
# Clock jumps under faketime against a release dev server: TOKENS token
# leases (default 10000) and CREDS database leases (default 500, on the
# local Postgres) with a 60 s TTL, then the wall clock steps forward an
# hour: how long until every one is revoked, and how reads fare meanwhile
# (errors must be 0). Then the clock steps back an hour: a token with a
# 120 s max TTL renewed after the step must not outlive it by more than
# the step. The monotonic clock is left alone (timers keep real time).
# CI runs the in-process version: src/core/clock_jumps.rs. Loopback only.
# Usage: scripts/faults/clock_jump.sh [TOKENS] [CREDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
tokens="${1:-10000}"
creds="${2:-500}"
source scripts/lib.sh
lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1 || true)
if [ -z "$lib" ]; then
  echo "==> installing faketime (Debian package)"
  as_root apt-get install -y -qq faketime >/dev/null
  lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 | head -n 1)
fi
cargo build --release --quiet

work=$(mktemp -d)
port=$(free_port)
addr="http://127.0.0.1:$port"
token="jump-$RANDOM$RANDOM"
echo "+0" > "$work/offset"
LD_PRELOAD="$lib" FAKETIME_TIMESTAMP_FILE="$work/offset" FAKETIME_CACHE_DURATION=1 \
  FAKETIME_DONT_FAKE_MONOTONIC=1 \
  target/release/qm server --dev --dev-listen-address "127.0.0.1:$port" \
  --dev-root-token-id "$token" > "$work/server.log" 2>&1 &
server=$!
QM_CLEANUP+=("kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf '$work'")
for _ in $(seq 100); do curl -sf "$addr/v1/sys/health" >/dev/null && break; sleep 0.1; done

role="cj$RANDOM"
QM_ADDR="$addr" QM_TOKEN="$token" QM_PG_URL="$QM_TEST_PG_URL" QM_ROLE="$role" \
  QM_TOKENS="$tokens" QM_CREDS="$creds" QM_OFFSET_FILE="$work/offset" python3 - <<'PY'
import http.client, json, os, threading, time, urllib.parse

addr = urllib.parse.urlparse(os.environ["QM_ADDR"])
token, role = os.environ["QM_TOKEN"], os.environ["QM_ROLE"]
tokens, creds = int(os.environ["QM_TOKENS"]), int(os.environ["QM_CREDS"])
offset_file = os.environ["QM_OFFSET_FILE"]

def connect():
    return http.client.HTTPConnection(addr.hostname, addr.port, timeout=60)

def api(conn, method, path, body=None, as_token=None):
    headers = {"X-Vault-Token": as_token or token, "Content-Type": "application/json"}
    conn.request(method, "/v1/" + path, json.dumps(body) if body is not None else None, headers)
    answer = conn.getresponse()
    data = answer.read()
    return answer.status, (json.loads(data) if data else None)

def must(status_body, what):
    status, body = status_body
    if status >= 300:
        raise SystemExit(f"clock_jump: {what} failed: {status} {body}")
    return body

conn = connect()
pg = os.environ["QM_PG_URL"]
must(api(conn, "POST", "sys/mounts/database", {"type": "database"}), "mount")
must(api(conn, "POST", "database/config/pg", {"plugin_name": "postgresql-database-plugin",
     "connection_url": pg, "allowed_roles": "*"}), "config")
must(api(conn, "POST", f"database/roles/{role}", {"db_name": "pg", "default_ttl": "60s",
     "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"}), "role")
must(api(conn, "POST", "cubbyhole/probe", {"v": "1"}), "probe write")

def issue(n, path, method, body):
    c = connect()
    for _ in range(n):
        must(api(c, method, path, body), path)

workers = []
for part in range(4):
    workers.append(threading.Thread(target=issue, args=(tokens // 4, "auth/token/create", "POST", {"ttl": "60s"})))
    workers.append(threading.Thread(target=issue, args=(creds // 4, f"database/creds/{role}", "GET", None)))
for w in workers: w.start()
for w in workers: w.join()

def remaining():
    total = 0
    for prefix in ("auth/token/create/", f"database/creds/{role}/"):
        status, body = api(conn, "LIST", f"sys/leases/lookup/{prefix}")
        if status == 200:
            total += len(body["data"]["keys"])
    return total

due = remaining()
latencies, errors, stop = [], [0], threading.Event()
def reader():
    c = connect()
    while not stop.is_set():
        t = time.monotonic()
        try:
            status, _ = api(c, "GET", "cubbyhole/probe")
        except Exception:
            status = 0
            c = connect()
        latencies.append(time.monotonic() - t)
        if status != 200:
            errors[0] += 1
        time.sleep(0.005)
threads = [threading.Thread(target=reader) for _ in range(2)]
for t in threads: t.start()

with open(offset_file, "w") as f: f.write("+1h\n")
started = time.monotonic()
while True:
    left = remaining()
    if left == 0:
        break
    if time.monotonic() - started > 600:
        raise SystemExit(f"clock_jump: {left} leases still due 600 s after the jump; FAILED")
    time.sleep(0.2)
burst = time.monotonic() - started
stop.set()
for t in threads: t.join()
latencies.sort()
p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0

# Back an hour: a token with a 120 s max TTL, renewed after the step.
body = must(api(conn, "POST", "auth/token/create", {"ttl": "60s", "explicit_max_ttl": "120s"}), "max-ttl token")
child = body["auth"]["client_token"]
with open(offset_file, "w") as f: f.write("+0\n")
time.sleep(1.5)
for _ in range(3):
    api(conn, "POST", "auth/token/renew-self", {"increment": "1h"}, as_token=child)
ttl = must(api(conn, "GET", "auth/token/lookup-self", as_token=child), "lookup")["data"]["ttl"]
ok = errors[0] == 0 and ttl <= 3600 + 120
print(f"clock_jump: +1h with {due} leases due ({tokens} tokens, {creds} database users): all revoked in {burst:.1f} s "
      f"({due / burst:.0f}/s); reads meanwhile: {len(latencies)}, errors {errors[0]}, p99 {p99:.1f} ms; "
      f"-1h: a 120 s max-TTL token renewed after the step has ttl {ttl} s (<= 3600 + 120); {'ok' if ok else 'FAILED'}")
raise SystemExit(0 if ok else 1)
PY
