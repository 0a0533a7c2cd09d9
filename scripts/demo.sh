#!/usr/bin/env bash
# The demo: a local fleet (nats-server, controller, three agents) and a release walking across it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec node test/dist/demo/main.js "$@"
