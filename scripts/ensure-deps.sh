#!/usr/bin/env bash
# Installs what Flotilla's demo, tests and benchmark need on a fresh Debian machine with Node.js
# 20: the npm packages, a nats-server of 2.10 or newer, with --nginx nginx (the balancer of the
# demo's traffic act), with --bench nginx, curl and openssl (the benchmark's baseline), with
# --package lintian, amtool, promtool and ansible-playbook (which check the Debian packages and
# the shipped examples), when missing; and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# One run at a time on a machine: two at once (a demo started while the tests install, say)
# would race on apt's lock and on npm ci's node_modules. The second waits for the first, then
# finds everything in place.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/flotilla-ensure-deps-$(id -u).lock"
  flock 9
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || die "Flotilla needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))"

stamp=node_modules/.flotilla-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

# Commands that change the system's packages run as root: directly, else with passwordless sudo.
as_root=()
can_install=1
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n); else can_install=0; fi
fi

# Debian packages whose program is missing, installed together (one apt-get update), else says
# what to run.
missing=()
want() { # PROGRAM PACKAGE WHY
  if [ -x "$1" ] || command -v "$1" >/dev/null 2>&1; then return 0; fi
  say "$2 not found: installing Debian's $2 package ($3)"
  missing+=("$2")
}

bench=false
package=false
nginx=false
for arg in "$@"; do
  case "$arg" in
    --bench) bench=true ;;
    --package) package=true ;;
    --nginx) nginx=true ;;
    *) die "unknown option $arg (known: --bench, --nginx, --package)" ;;
  esac
done

if $nginx || $bench; then
  # The demo's balancer in front of its hosts and the benchmark's fetch baseline (npm run bench,
  # and its quick mode in the tests): each runs its own nginx on a loopback port; a service the
  # package may start is not used.
  want /usr/sbin/nginx nginx "the demo's balancer and the benchmark's fetch baseline"
fi
if $bench; then
  want curl curl "the benchmark's fetch baseline fetches with it"
  # The benchmark's nginx serves over TLS with a certificate made in the run.
  want openssl openssl "the benchmark makes its nginx's TLS certificate with it"
fi
if $package; then
  # The package tests. Only the checkers are used (amtool and promtool read files); the services
  # these packages may start are not.
  want lintian lintian 'the package tests check the .deb files with it'
  want amtool prometheus-alertmanager 'checks the example Alertmanager config and its routes'
  want promtool prometheus 'checks the example alerting rules'
  want ansible-playbook ansible-core 'runs the agents playbook in deploy/ansible against this machine'
fi
if [ ${#missing[@]} -gt 0 ]; then
  [ "$can_install" -eq 1 ] \
    || die "${missing[*]} missing and this user cannot install packages: run 'sudo apt-get install ${missing[*]}' and retry"
  ("${as_root[@]}" apt-get update -qq && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null) \
    || die "apt-get could not install ${missing[*]}; install them by hand (apt-get install ${missing[*]}) and retry"
fi

# nats-server 2.10 or newer (JetStream's sync_interval; see the script).
bash scripts/install-nats-server.sh

say "building (tsc -b)"
npx --no-install tsc -b
