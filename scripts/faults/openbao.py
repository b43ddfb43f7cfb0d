"""One OpenBao server process for the fault scripts' comparison runs
(kill9_openbao.py, tamper_openbao.py): its config on loopback, start,
kill -9, HTTP calls and unseal; and the Postgres users its database
mount made. Standard library only."""

import http.client
import json
import os
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bao:
    """An OpenBao server in `work` with the `storage` stanza given (HCL);
    started by `start()`."""

    def __init__(self, binary, work, storage):
        self.binary, self.work = binary, work
        self.port, cluster = free_port(), free_port()
        self.config = os.path.join(work, "server.hcl")
        with open(self.config, "w") as out:
            out.write(
                f"""{storage}
listener "tcp" {{
  address = "127.0.0.1:{self.port}"
  cluster_address = "127.0.0.1:{cluster}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{self.port}"
cluster_addr = "http://127.0.0.1:{cluster}"
"""
            )
        self.log = open(os.path.join(work, "server.log"), "ab")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "server", "-config", self.config],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        """Kills the server if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def call(self, method, path, token=None, body=None, timeout=30):
        """One request; returns (status, parsed JSON body or {})."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"X-Vault-Token": token} if token else {}
        try:
            connection.request(
                method, f"/v1/{path}", body=json.dumps(body) if body is not None else None, headers=headers
            )
            answer = connection.getresponse()
            raw = answer.read()
            try:
                return answer.status, json.loads(raw) if raw else {}
            except ValueError:
                return answer.status, {"raw": raw.decode(errors="replace")}
        finally:
            connection.close()

    def wait_until(self, ready, what, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        with open(os.path.join(self.work, "server.log"), errors="replace") as log:
            tail = "".join(log.readlines()[-15:])
        raise SystemExit(f"openbao: the server did not become {what} within {seconds} s; its log ends:\n{tail}")

    def reachable(self):
        self.wait_until(lambda: self.call("GET", "sys/seal-status")[0] == 200, "reachable")

    def init(self):
        """Initialises with one key share; returns (unseal key, root token)."""
        self.reachable()
        status, init = self.call("PUT", "sys/init", body={"secret_shares": 1, "secret_threshold": 1})
        if status != 200:
            raise SystemExit(f"openbao: init answered {status} {init}")
        return init["keys"][0], init["root_token"]

    def unseal(self, key):
        """Unseals and waits until this node is the active one (raft elects
        itself after the unseal)."""
        self.reachable()
        status, body = self.call("PUT", "sys/unseal", body={"key": key})
        if status != 200:
            raise SystemExit(f"openbao: unseal answered {status} {body}")
        self.wait_until(lambda: self.call("GET", "sys/health")[0] == 200, "active")

    def write_kv2(self, token, path, data):
        """Writes `data` at KV v2 `path`, waiting until the mount answers
        writes (a new KV v2 mount upgrades itself first)."""
        self.wait_until(lambda: self.call("POST", path, token, {"data": data})[0] == 200, "ready for KV v2")

    def setup(self, token, requests):
        """Sends (method, path, body) requests that must all succeed."""
        for method, path, body in requests:
            status, answer = self.call(method, path, token, body)
            if status >= 300:
                raise SystemExit(f"openbao: {path} answered {status} {answer}")


def mounts_and_role(pg_url, role):
    """The mounts both comparison scripts use (KV v2 at `secret`, KV v1 at
    `kv`, a database mount on `pg_url`) and a database role `role` with a
    1 h TTL, as (method, path, body) for `Bao.setup`."""
    creation = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"
    return [
        ("POST", "sys/mounts/secret", {"type": "kv-v2"}),
        ("POST", "sys/mounts/kv", {"type": "kv"}),
        ("POST", "sys/mounts/database", {"type": "database"}),
        (
            "POST",
            "database/config/pg",
            {"plugin_name": "postgresql-database-plugin", "connection_url": pg_url, "allowed_roles": "*"},
        ),
        ("POST", f"database/roles/{role}", {"db_name": "pg", "creation_statements": creation, "default_ttl": "1h"}),
    ]


def pg_users(psql, pg_url, prefix):
    """How many Postgres roles start with `prefix`."""
    out = subprocess.run(
        [psql, pg_url, "-Atc", f"SELECT count(*) FROM pg_roles WHERE starts_with(rolname, '{prefix}')"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())


def drop_users(psql, pg_url, prefix):
    """Drops every Postgres role starting with `prefix` (the run's own)."""
    subprocess.run(
        [
            psql,
            pg_url,
            "-qc",
            "DO $$DECLARE r text; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE "
            f"starts_with(rolname, '{prefix}') LOOP EXECUTE format('DROP ROLE %I', r); END LOOP; END$$;",
        ],
        capture_output=True,
    )
