#!/usr/bin/env bash
# The disk fills up: a release server whose sled store lives on a small
# loop-mounted ext4 (a tmpfs with size= if this machine refuses loop
# mounts; the result line says which). scripts/faults/disk_full.py writes
# KV v2 values, fills the filesystem to its last byte and writes on until
# the store refuses; while full, writes must answer 503 in Vault's error
# shape and every acknowledged write must still read back; then the filler
# goes and the script times the first write that succeeds. Last, kill -9,
# restart, unseal: every acknowledged write must be there. Root only
# (mount); loopback only; the server, the mount and the temp files are gone
# at exit, even on failure.
# Prints one result line; exits 1 if an acknowledged write is lost, a
# refusal is not a 503, a read fails or writes do not resume.
# QM_FULL_BIN runs that binary instead of building the release one.
# QM_FULL_RACE=1 fills the filesystem while four writers write, so that
# some meet the last byte inside sled (past the store's free-space check):
# the line then says how often sled itself ran out and the store reopened.
# QM_FULL_DEBUG=1 prints the fill phase's JSON summary on stderr.
# Usage: scripts/faults/disk_full.sh [SIZE in MiB, default 64]
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-64}"
[[ $size_mib =~ ^[0-9]+$ ]] && [ "$size_mib" -ge 16 ] || { echo "usage: $0 [MiB >= 16]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "disk_full.sh mounts a filesystem: run it as root" >&2; exit 1; }
source scripts/lib.sh
if [ -n "${QM_FULL_BIN:-}" ]; then
  qm="$QM_FULL_BIN"
else
  cargo build --release --quiet
  qm="${CARGO_TARGET_DIR:-target}/release/qm"
fi

work=$(mktemp -d /tmp/qm-disk-full.XXXXXX)
mnt="$work/mnt"
mkdir "$mnt"
QM_CLEANUP+=("rm -rf '$work'")
fs="ext4 on a loop device"
truncate -s "${size_mib}M" "$work/disk.img"
mkfs.ext4 -q -F -m 0 "$work/disk.img"
if ! mount -o loop "$work/disk.img" "$mnt" 2>"$work/mount.err"; then
  fs="tmpfs (loop mount refused: $(head -n 1 "$work/mount.err"))"
  mount -t tmpfs -o "size=${size_mib}m" tmpfs "$mnt"
fi
# Runs before rm -rf (cleanups run in order; this one is inserted first).
QM_CLEANUP=("umount -l '$mnt' 2>/dev/null || true" "${QM_CLEANUP[@]}")

port=$(free_port)
addr="http://127.0.0.1:$port"
cat > "$work/server.toml" <<TOML
log_level = "warn"
[listener]
address = "127.0.0.1:$port"
[storage]
path = "$mnt/data"
TOML
server=
start_server() {
  "$qm" server --config "$work/server.toml" >> "$work/server.out" 2>> "$work/server.err" &
  server=$!
  for _ in $(seq 100); do curl -s --max-time 2 "$addr/v1/sys/seal-status" >/dev/null && return; sleep 0.1; done
  echo "the server did not start: $(tail -n 5 "$work/server.err")" >&2
  return 1
}
QM_CLEANUP=('[ -n "$server" ] && kill -9 $server 2>/dev/null; wait $server 2>/dev/null || true' "${QM_CLEANUP[@]}")
start_server
init=$(curl -sf --max-time 30 -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$addr/v1/sys/init")
key=$(echo "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0])')
token=$(echo "$init" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])')
unseal() { curl -sf --max-time 30 -X PUT -d "{\"key\":\"$key\"}" "$addr/v1/sys/unseal" >/dev/null; }
unseal
curl -sf --max-time 30 -X POST -H "X-Vault-Token: $token" -d '{"type":"kv-v2"}' \
  "$addr/v1/sys/mounts/secret" >/dev/null

export FULL_ADDR="$addr" FULL_TOKEN="$token" FULL_RACE="${QM_FULL_RACE:-0}"
fill=$(timeout 900 python3 scripts/faults/disk_full.py fill "$work/acked.json" "$mnt/filler")
[ -z "${QM_FULL_DEBUG:-}" ] || echo "$fill" >&2

kill -9 "$server"
wait "$server" 2>/dev/null || true
start_server
unseal
verify=$(timeout 300 python3 scripts/faults/disk_full.py verify "$work/acked.json")
panics=$(grep -c panicked "$work/server.err" || true)
reopened=$(grep -c "reopened the store" "$work/server.err" || true)

python3 - "$fill" "$verify" "$fs" "$size_mib" "$panics" "$reopened" <<'PY'
import json, sys
fill, verify = json.loads(sys.argv[1]), json.loads(sys.argv[2])
fs, size, panics, reopened = sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
full = fill["while_full"]
refusals_503 = full.get("503", 0)
others = sum(v for k, v in full.items() if k != "503")
resumed = fill["resumed_after_s"]
ok = (verify["lost"] == 0 and others == 0 and refusals_503 > 0
      and fill["reads_failed_while_full"] == 0 and resumed is not None
      and fill["later_ok"] == 50 and panics == 0)
message = "; ".join(fill["messages"]) or "none"
print(f"disk_full: injected a full {fs} of {size} MiB under the store, filled to the last "
      f"byte after {fill['acked_before_full']} acknowledged writes; while full: "
      f"{refusals_503} writes answered 503 ({message!r}), {others} answered otherwise, "
      f"{fill['reads_failed_while_full']} of {fill['reads']} reads failed; space returned: "
      f"first successful write after {resumed if resumed is None else round(resumed, 2)} s, "
      f"{fill['later_ok']}/50 writes after it; kill -9 and restart: {verify['lost']} of "
      f"{verify['acked']} acknowledged writes lost; sled itself ran out and the store "
      f"reopened: {reopened}x; panics: {panics}; "
      f"{'ok' if ok else 'FAILED'}")
for failure in fill["read_failures"]:
    print(f"  read failed while full: {failure}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
