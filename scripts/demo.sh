#!/usr/bin/env bash
# The demo: a local fleet (nats-server, controller, three agents behind an nginx) and a release
# walking across it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --nginx
exec node test/dist/demo/main.js "$@"
