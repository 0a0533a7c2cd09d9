#!/usr/bin/env bash
# `npm run faults [-- --loops N]` (every fault kind) or `-- --soak [--minutes N]`: the fault and soak runs against real local fleets
# (test/src/faults). Installs what is missing and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec node test/dist/faults/main.js "$@"
