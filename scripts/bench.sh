#!/usr/bin/env bash
# `npm run bench [-- --quick] [-- --only hosts,fetch] [-- --markdown]`: every performance figure
# against its baseline, from one run (docs/performance.md). Installs what is missing first: the
# npm packages, nats-server, nginx and curl (Debian's packages; apt-get as root, else it says how).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# npm packages, nats-server, nginx and curl (Debian's packages: apt-get as root, or says what to run), build.
bash scripts/ensure-deps.sh --bench
[ -x "${NGINX_BIN:-/usr/sbin/nginx}" ] || die "nginx is still missing (Debian installs it as /usr/sbin/nginx)"

exec node test/dist/bench/main.js "$@"
