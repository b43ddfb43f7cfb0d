"""Tampering, against OpenBao: tests/integration/storage.rs's flips ported
to an OpenBao server on its PostgreSQL storage (the one backend of
OpenBao's whose records a script can change one by one), for
docs/reliability.md's comparison column. Run by `scripts/faults/tamper.sh
openbao`; standard library and psql only.

One byte is flipped in the middle of a KV v2 version, a KV v1 entry, a
policy, a lease, a database role and a token (the server stopped); then
it is started and unsealed UNSEALS times, each watched for SETTLE seconds
(OpenBao may seal itself when its lease restore meets the flipped lease),
and each record is read back. Then, on fresh servers, a mount's entry of
the mount table and then the keyring, and the unseal is tried.

Environment: BAO (the binary), PG_URL (a database this run may create
databases in), PSQL. Prints one line starting `tamper (openbao):`: how
many reads served a wrong value, how many errors named the record.
"""

import os
import subprocess
import sys
import tempfile
import time

from openbao import Bao, drop_users, mounts_and_role

TABLE = "openbao_kv_store"
# Unseals tried after the flips, and how long each is watched.
UNSEALS = 10
SETTLE = 3.0


def sql(psql, url, statement):
    out = subprocess.run([psql, url, "-qAtc", statement], check=True, capture_output=True, text=True)
    return out.stdout.split("\n")[:-1] if out.stdout else []


def keys(psql, url, prefix):
    """Every stored key under `prefix` (the backend keeps a key as its
    directory `path` and last segment `key`)."""
    return sql(psql, url, f"SELECT ltrim(path, '/') || key FROM {TABLE} WHERE starts_with(ltrim(path, '/') || key, '{prefix}')")


def flip(psql, url, key):
    """Flips one bit of the byte in the middle of the record's value."""
    path, _, last = ("/" + key).rpartition("/")
    changed = sql(
        psql,
        url,
        f"UPDATE {TABLE} SET value = set_byte(value, length(value) / 2, get_byte(value, length(value) / 2) # 32) "
        f"WHERE path = '{path}/' AND key = '{last}' RETURNING 1",
    )
    if changed != ["1"]:
        raise SystemExit(f"tamper (openbao): no record {key} to flip")


class Database:
    """A database of this run's own on the Postgres of PG_URL, for one
    server's storage; dropped by `drop()`."""

    def __init__(self, psql, pg_url, name):
        self.psql, self.admin, self.name = psql, pg_url, name
        sql(psql, pg_url, f"CREATE DATABASE {name}")
        base = pg_url.rsplit("/", 1)[0]
        self.url = f"{base}/{name}"

    def storage(self):
        return f'storage "postgresql" {{\n  connection_url = "{self.url}?sslmode=disable"\n}}'

    def drop(self):
        subprocess.run([self.psql, self.admin, "-qc", f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"], capture_output=True)


def unseal_and_watch(bao, key):
    """Unseals, then watches for SETTLE seconds; whether it stayed unsealed."""
    bao.reachable()
    status, answer = bao.call("PUT", "sys/unseal", body={"key": key})
    if status != 200:
        raise SystemExit(f"tamper (openbao): unseal answered {status} {answer}")
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        if bao.call("GET", "sys/seal-status")[1].get("sealed"):
            return False
        time.sleep(0.1)
    return True


def records(psql, pg_url, run, work, binary):
    """Flips six records of six kinds; returns (reads, wrong, named, lines,
    how many of UNSEALS unseals the server sealed itself after)."""
    db = Database(psql, pg_url, f"qm_tamper_{run}")
    bao = Bao(binary, work, db.storage())
    role = f"tp{run}"
    try:
        bao.start()
        key, root = bao.init()
        bao.unseal(key)
        bao.setup(
            root,
            mounts_and_role(pg_url, role)
            + [
                ("PUT", "kv/app", {"v": "kv1-value"}),
                ("PUT", "sys/policies/acl/app", {"policy": 'path "kv/*" { capabilities = ["read"] }'}),
            ],
        )
        bao.write_kv2(root, "secret/data/app", {"v": "kv2-value"})
        tokens_before = set(keys(psql, db.url, "sys/token/id/"))
        status, child = bao.call("POST", "auth/token/create", root, {"policies": ["app"]})
        assert status == 200, child
        child_token = child["auth"]["client_token"]
        status, lease = bao.call("GET", f"database/creds/{role}", root)
        assert status == 200, lease
        lease_id = lease["lease_id"]
        mounts = bao.call("GET", "sys/mounts", root)[1]["data"]
        uuid = {path.rstrip("/"): mount["uuid"] for path, mount in mounts.items()}
        bao.kill()

        child_record = sorted(set(keys(psql, db.url, "sys/token/id/")) - tokens_before)
        flipped = {
            "KV v2 version": [k for k in keys(psql, db.url, f"logical/{uuid['secret']}/") if "/versions/" in k],
            "KV v1": [f"logical/{uuid['kv']}/app"],
            "policy": ["sys/policy/app"],
            "lease": [f"sys/expire/id/{lease_id}"],
            "database role": [f"logical/{uuid['database']}/role/{role}"],
            "token": child_record[:1],
        }
        for kind, found in flipped.items():
            if len(found) != 1:
                every = "\n".join(keys(psql, db.url, ""))
                raise SystemExit(f"tamper (openbao): no {kind} record found among:\n{every}")
            flip(psql, db.url, found[0])
        bao.start()
        # OpenBao restores leases in the background after an unseal; on the
        # flipped lease that restore may shut the server down and seal it.
        stayed = [unseal_and_watch(bao, key) for _ in range(UNSEALS)]
        if not stayed[-1]:
            bao.call("PUT", "sys/unseal", body={"key": key})

        reads = [
            ("KV v2 version", "GET", "secret/data/app", root, None),
            ("KV v1", "GET", "kv/app", root, None),
            ("policy", "GET", "sys/policies/acl/app", root, None),
            ("database role", "GET", f"database/roles/{role}", root, None),
            ("lease", "PUT", "sys/leases/lookup", root, {"lease_id": lease_id}),
            ("token", "GET", "auth/token/lookup-self", child_token, None),
        ]
        wrong, named, lines = 0, 0, []
        for kind, method, path, who, body in reads:
            status, answer = bao.call(method, path, who, body)
            text = str(answer)
            served = 200 <= status < 300 and "-value" in text or (kind in ("lease", "token") and status == 200)
            wrong += served
            record = flipped[kind][0]
            named += record in text
            lines.append(f"{kind}: {status} {text[:160]}")
        return len(reads), wrong, named, lines, stayed.count(False)
    finally:
        bao.stop()
        drop_users(psql, pg_url, f"v-root-{role}-")
        db.drop()


def unseal_after_flip(psql, pg_url, run, work, binary, which):
    """On a fresh server with a KV mount `kv` holding `kv/app`, flips the
    keyring or that mount's entry of the mount table (OpenBao keeps one
    record a mount, `core/mounts/UUID`); returns (record, the unseal's
    status, sealed after it, what reading `kv/app` answered, the unseal's
    answer)."""
    db = Database(psql, pg_url, f"qm_tamper_{run}_{which}")
    bao = Bao(binary, os.path.join(work, which), db.storage())
    try:
        bao.start()
        key, root = bao.init()
        bao.unseal(key)
        bao.setup(root, [("POST", "sys/mounts/kv", {"type": "kv"}), ("PUT", "kv/app", {"v": "kv1-value"})])
        uuid = bao.call("GET", "sys/mounts", root)[1]["data"]["kv/"]["uuid"]
        bao.kill()
        record = "core/keyring" if which == "keyring" else f"core/mounts/{uuid}"
        flip(psql, db.url, record)
        bao.start()
        bao.reachable()
        status, answer = bao.call("PUT", "sys/unseal", body={"key": key})
        sealed = bao.call("GET", "sys/seal-status")[1].get("sealed")
        read = "not tried (sealed)"
        if not sealed:
            bao.wait_until(lambda: bao.call("GET", "sys/health")[0] == 200, "active")
            read_status, read_body = bao.call("GET", "kv/app", root)
            read = f"{read_status} {str(read_body)[:120]}"
        return record, status, sealed, read, str(answer)[:160]
    finally:
        bao.stop()
        db.drop()


def main():
    binary, pg_url, psql = os.environ["BAO"], os.environ["PG_URL"], os.environ["PSQL"]
    run = os.urandom(3).hex()
    with tempfile.TemporaryDirectory(prefix="qm-tamper-bao.") as work:
        for which in ("mounts", "keyring"):
            os.makedirs(os.path.join(work, which))
        reads, wrong, named, lines, resealed = records(psql, pg_url, run, work, binary)
        unseals = [unseal_after_flip(psql, pg_url, run, work, binary, which) for which in ("mounts", "keyring")]
    for line in lines:
        print("  " + line)
    for record, status, sealed, read, answer in unseals:
        print(f"  after flipping {record}: unseal {status}, sealed {sealed}: {answer}; kv/app: {read}")
    unseal_summary = "; ".join(
        f"{record.split('/')[1]}: unseal {status}, sealed {sealed}" + ("" if sealed else f", kv/app {read.split(' ')[0]}")
        for record, status, sealed, read, _ in unseals
    )
    print(
        f"tamper (openbao): one byte flipped in 6 records (KV v2, KV v1, policy, lease, database role, token; "
        f"PostgreSQL storage), then in a mount's entry of the mount table and in the keyring; wrong values served: {wrong} of {reads} reads; "
        f"errors naming the stored key: {named} of {reads}; sealed itself within {SETTLE:.0f} s of "
        f"{resealed} of {UNSEALS} unseals after the flips (the lease restore); {unseal_summary}"
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
