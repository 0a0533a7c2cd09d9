#!/usr/bin/env bash
# The test command: installs what is missing, builds, checks the import graph, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
node scripts/check-imports.mjs
exec npx --no-install vitest run "$@"
