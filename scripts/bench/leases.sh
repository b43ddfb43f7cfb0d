#!/usr/bin/env bash
# Lease benchmarks against a real Postgres (found or started as for the
# tests): issuance at 1/8/32 clients, revoke-prefix of 5,000, and 10,000
# leases expiring in the same second, each next to its raw limit.
# Usage: scripts/bench/leases.sh [seconds per issuance run, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
QM_BENCH_SECS="${1:-5}" cargo bench --bench leases
