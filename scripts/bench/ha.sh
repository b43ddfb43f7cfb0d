#!/usr/bin/env bash
# HA benchmarks against a real Postgres (found or started as for the tests):
# failover after kill -9 through a standby, KV reads through a standby next
# to reads on the active node, and takeover with QM_HA_LEASES leases in
# storage (default 1,000,000). Issuance on postgresql storage next to raw
# CREATE ROLE + GRANT: QM_BENCH_STORAGE=postgresql scripts/bench/leases.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
cargo bench --bench ha
