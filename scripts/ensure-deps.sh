#!/usr/bin/env bash
# Installs what Flotilla's demo and tests need on a fresh Debian machine with Node.js 20:
# the npm packages, Debian's nats-server (when missing), and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || die "Flotilla needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))"

stamp=node_modules/.flotilla-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

if ! command -v nats-server >/dev/null 2>&1; then
  say "nats-server not found: installing Debian's nats-server package"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null \
      || die "apt-get could not install nats-server; install it by hand (apt-get install nats-server) and retry"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null \
      || die "apt-get could not install nats-server; install it by hand (sudo apt-get install nats-server) and retry"
  else
    die "nats-server is missing and this user cannot install packages: run 'sudo apt-get install nats-server' (or put a nats-server 2.9+ binary on PATH) and retry"
  fi
fi
command -v nats-server >/dev/null 2>&1 || die "nats-server is still not on PATH (Debian installs it as /usr/bin/nats-server)"

say "building (tsc -b)"
npx --no-install tsc -b
