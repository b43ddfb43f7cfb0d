#!/usr/bin/env python3
"""The KV side of scripts/faults/disk_full.sh (stdlib only).

`fill`: writes 1 KiB KV v2 values under new keys, fills the filesystem to
its last byte with FILLER, and goes on writing until the store refuses ten
writes in a row, recording every acknowledged write in ACKED (a JSON
file); then eats whatever bytes are left again and, still full, sends more
writes (each must answer 503 in Vault's error shape) and reads back every
acknowledged write (each must answer with its value); then deletes FILLER
and times the first write that succeeds after it, and writes a few more.
Prints a JSON summary. With FULL_RACE=1, four writers go on writing while
the filesystem fills, so some of them meet the last byte inside sled
rather than at the store's free-space check.

`verify`: reads back every write in ACKED and prints how many are missing
or different.
"""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

VALUE = 1024
TIMEOUT = 30.0


class Api:
    def __init__(self, addr, token):
        url = urllib.parse.urlparse(addr)
        self.addr, self.host, self.port, self.token = addr, url.hostname, url.port, token
        self.conn = None

    def call(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        headers = {"X-Vault-Token": self.token, "Content-Type": "application/json"}
        try:
            self.conn.request(method, "/v1/" + path,
                              body=None if body is None else json.dumps(body), headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = None
            return 0, {"transport": str(e)}
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, {"raw": raw[:200].decode(errors="replace")}


def write(api, key, acked):
    value = os.urandom(VALUE // 2).hex()
    status, body = api.call("POST", f"secret/data/full/{key}", {"data": {"v": value}})
    if status == 200:
        acked[key] = value
    return status, body


def read_back(api, acked, failures=None):
    bad = 0
    for key, value in acked.items():
        status, body = api.call("GET", f"secret/data/full/{key}")
        if status != 200 or body["data"]["data"].get("v") != value:
            bad += 1
            if failures is not None and len(failures) < 3:
                failures.append(f"{status} {json.dumps(body)[:200]}")
    return bad


def fill_filesystem(filler):
    """Appends to FILLER until not one more byte fits."""
    with open(filler, "ab", buffering=0) as f:
        for chunk in (1 << 20, 4096, 1):
            while True:
                try:
                    f.write(b"\0" * chunk)
                except OSError:
                    break
        try:
            os.fsync(f.fileno())
        except OSError:
            pass


def racing_fill(api, acked, filler):
    """Fills the filesystem while four writers write, until each of them
    has been refused ten times in a row."""
    stop = threading.Event()

    def writer(t):
        mine = Api(api.addr, api.token)
        i = refused = 0
        while not (stop.is_set() and refused >= 10):
            status, _ = write(mine, f"w{t}_{i}", acked)
            i += 1
            refused = 0 if status == 200 else refused + 1

    writers = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for w in writers:
        w.start()
    time.sleep(0.5)
    fill_filesystem(filler)
    stop.set()
    for w in writers:
        w.join()


def fill(api, acked_path, filler):
    acked = {}
    for n in range(500):
        status, body = write(api, f"k{n}", acked)
        if status != 200:
            raise SystemExit(f"disk_full: a write failed before the fill: {status} {body}")
    if os.environ.get("FULL_RACE") == "1":
        racing_fill(api, acked, filler)
    else:
        fill_filesystem(filler)
    n = 500
    refused = 0
    first_refusal = None
    deadline = time.monotonic() + 600
    while refused < 10:
        if time.monotonic() > deadline:
            raise SystemExit("disk_full: the store never filled up in 10 minutes")
        status, body = write(api, f"k{n}", acked)
        n += 1
        if status == 200:
            refused = 0
        else:
            refused += 1
            first_refusal = first_refusal or (status, body)
    acked_before_full = len(acked)
    fill_filesystem(filler)

    # Still full: more writes, then every acknowledged write read back.
    statuses = {}
    messages = set()
    for i in range(20):
        status, body = write(api, f"full{i}", acked)
        statuses[status] = statuses.get(status, 0) + 1
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            messages.update(str(m) for m in body["errors"])
    reads = len(acked)
    read_failures = []
    reads_failed = read_back(api, acked, read_failures)

    os.remove(filler)
    freed = time.monotonic()
    resumed = None
    i = 0
    while time.monotonic() < freed + float(os.environ.get("FULL_RESUME_WAIT", "60")):
        status, _ = write(api, f"after{i}", acked)
        i += 1
        if status == 200:
            resumed = time.monotonic() - freed
            break
        time.sleep(0.1)
    after = 0
    for j in range(50):
        status, _ = write(api, f"later{j}", acked)
        after += status == 200
    with open(acked_path, "w") as out:
        json.dump(acked, out)
    print(json.dumps({
        "acked_before_full": acked_before_full,
        "first_refusal": first_refusal,
        "while_full": statuses,
        "messages": sorted(messages)[:3],
        "reads": reads,
        "reads_failed_while_full": reads_failed,
        "read_failures": read_failures,
        "resumed_after_s": resumed,
        "later_ok": after,
        "acked": len(acked),
    }))


def verify(api, acked_path):
    with open(acked_path) as f:
        acked = json.load(f)
    print(json.dumps({"acked": len(acked), "lost": read_back(api, acked)}))


def main():
    addr, token = os.environ["FULL_ADDR"], os.environ["FULL_TOKEN"]
    api = Api(addr, token)
    if sys.argv[1] == "fill":
        fill(api, sys.argv[2], sys.argv[3])
    else:
        verify(api, sys.argv[2])


if __name__ == "__main__":
    main()
