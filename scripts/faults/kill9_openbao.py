"""kill -9 during writes, against OpenBao: tests/integration/kill9.rs's
rounds ported to an OpenBao server on integrated storage (raft), for
docs/reliability.md's comparison column. Run by `scripts/faults/kill9.sh
ROUNDS openbao`; standard library only.

Each round: five clients (KV v2 twice, KV v1, token creation, database
credentials) send requests back to back over keep-alive connections, the
server is killed with SIGKILL 0.3-1.5 s in, restarted and unsealed; then
every write that got a 2xx must read back as written, every acknowledged
token and lease must still answer. After the last round, every Postgres
user of the role must have a lease (users beyond the listed leases are
untracked: created in Postgres, never recorded).

Environment: BAO (the binary), PG_URL, PSQL, ROUNDS. Prints one line
starting `kill9 (openbao):`; exits 1 if anything was lost or untracked.
"""

import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

from openbao import Bao, drop_users, mounts_and_role, pg_users


def client(port, token, kind, worker, round_no, role, acked, lock):
    """Sends requests until the connection fails (the server was killed),
    recording what each 2xx acknowledged."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n = 0
    while True:
        key = f"r{round_no}-w{worker}-{n}"
        if kind == "kv2":
            method, path, body = "POST", f"secret/data/{key}", {"data": {"n": n}}
        elif kind == "kv1":
            method, path, body = "POST", f"kv/{key}", {"n": n}
        elif kind == "token":
            method, path, body = "POST", "auth/token/create", {"policies": ["default"], "ttl": "1h"}
        else:
            method, path, body = "GET", f"database/creds/{role}", None
        try:
            connection.request(
                method,
                f"/v1/{path}",
                body=json.dumps(body) if body is not None else None,
                headers={"X-Vault-Token": token},
            )
            answer = connection.getresponse()
            raw = answer.read()
        except (OSError, http.client.HTTPException):
            return
        if 200 <= answer.status < 300:
            data = json.loads(raw) if raw else {}
            with lock:
                if kind in ("kv2", "kv1"):
                    acked[kind].append((key, n))
                elif kind == "token":
                    acked["tokens"].append(data["auth"]["client_token"])
                else:
                    acked["leases"].append(data["lease_id"])
        n += 1


def lost(bao, token, acked):
    missing = []
    for key, n in acked["kv2"]:
        status, body = bao.call("GET", f"secret/data/{key}", token)
        if status != 200 or body.get("data", {}).get("data", {}).get("n") != n:
            missing.append(f"kv2 {key}: {status}")
    for key, n in acked["kv1"]:
        status, body = bao.call("GET", f"kv/{key}", token)
        if status != 200 or body.get("data", {}).get("n") != n:
            missing.append(f"kv1 {key}: {status}")
    for issued in acked["tokens"]:
        status, _ = bao.call("GET", "auth/token/lookup-self", issued)
        if status != 200:
            missing.append(f"token: {status}")
    for lease in acked["leases"]:
        status, _ = bao.call("PUT", "sys/leases/lookup", token, {"lease_id": lease})
        if status != 200:
            missing.append(f"lease {lease}: {status}")
    return missing


def main():
    binary, pg_url, psql = os.environ["BAO"], os.environ["PG_URL"], os.environ["PSQL"]
    rounds = int(os.environ.get("ROUNDS", "20"))
    role = "k9" + os.urandom(3).hex()
    # OpenBao's default username: v-<display name>-<role, 8 chars>-...
    prefix = f"v-root-{role}-"
    with tempfile.TemporaryDirectory(prefix="qm-kill9-bao.") as work:
        bao = Bao(binary, work, f'storage "raft" {{\n  path = "{work}/raft"\n  node_id = "n1"\n}}')
        os.makedirs(os.path.join(work, "raft"))
        bao.start()
        try:
            key, token = bao.init()
            bao.unseal(key)
            bao.setup(token, mounts_and_role(pg_url, role))
            bao.write_kv2(token, "secret/data/ready", {"n": 0})
            total = {"kv2": [], "kv1": [], "tokens": [], "leases": []}
            missing, recovery = [], 0.0
            for round_no in range(rounds):
                acked = {"kv2": [], "kv1": [], "tokens": [], "leases": []}
                lock = threading.Lock()
                clients = [
                    threading.Thread(target=client, args=(bao.port, token, kind, worker, round_no, role, acked, lock))
                    for worker, kind in enumerate(["kv2", "kv2", "kv1", "token", "creds"])
                ]
                for c in clients:
                    c.start()
                time.sleep(random.uniform(0.3, 1.5))
                bao.kill()
                for c in clients:
                    c.join()
                started = time.monotonic()
                bao.start()
                bao.unseal(key)
                recovery += time.monotonic() - started
                missing += lost(bao, token, acked)
                for kind in total:
                    total[kind] += acked[kind]
            time.sleep(2)
            missing += lost(bao, token, total)
            users = pg_users(psql, pg_url, prefix)
            status, listed = bao.call("LIST", f"sys/leases/lookup/database/creds/{role}/", token)
            leases = len(listed.get("data", {}).get("keys", [])) if status == 200 else 0
            untracked = max(0, users - leases)
            acknowledged = sum(len(v) for v in total.values())
            verdict = "ok" if acknowledged and not missing and not untracked else "FAILED"
            print(
                f"kill9 (openbao): {rounds} kill -9 during KV v2/v1 writes, token creation and issuance "
                f"(raft storage); acknowledged {acknowledged} ({len(total['kv2'])} kv2, {len(total['kv1'])} kv1, "
                f"{len(total['tokens'])} tokens, {len(total['leases'])} leases); lost {len(missing)}; "
                f"untracked Postgres users {untracked} ({users} users, {leases} leases); "
                f"restart to active {recovery * 1000 / max(rounds, 1):.0f} ms on average; {verdict}"
            )
            for line in missing[:20]:
                print("  lost:", line)
            bao.call("PUT", f"sys/leases/revoke-prefix/database/creds/{role}", token)
            return 0 if verdict == "ok" else 1
        finally:
            bao.stop()
            drop_users(psql, pg_url, prefix)


if __name__ == "__main__":
    sys.exit(main())
