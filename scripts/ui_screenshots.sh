#!/usr/bin/env bash
# Retakes the console's screenshots in docs/ui/: runs the browser test
# (tests/integration/console.rs) through scripts/test.sh, which brings up
# Postgres, Chromium and the rest, with QM_UI_SCREENSHOTS pointing there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/ui
QM_UI_SCREENSHOTS="$PWD/docs/ui" scripts/test.sh --test integration -- console_in_chromium
ls -1 docs/ui/*.png
