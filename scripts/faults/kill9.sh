#!/usr/bin/env bash
# kill -9 at random moments during concurrent KV v2 and v1 writes, token
# creation and database credential issuance, ROUNDS times (default 20),
# against a server on sled storage and the local Postgres; after each
# restart every acknowledged write must be there and no Postgres user
# untracked. Runs tests/integration/kill9.rs (which CI runs with 3 kills)
# with more rounds. Loopback only. Prints one result line.
# Usage: scripts/faults/kill9.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-20}"
# Finds the local Postgres or starts a throwaway one (QM_TEST_PG_URL).
source scripts/lib.sh
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
