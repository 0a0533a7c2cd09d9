#!/usr/bin/env bash
# Makes sure nats-server 2.10 or newer is on PATH, installing Debian 13's package when it is not.
# Used by scripts/ensure-deps.sh (tests, demo, bench, faults); docs/operations.md shows it for a controller host.
set -euo pipefail

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Commands that change the system's packages run as root: directly, else with passwordless sudo.
as_root=()
can_install=1
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n); else can_install=0; fi
fi

# nats-server: the tests, the demo and deploy/nats run JetStream with `sync_interval: always`
# (every write fsynced before it is acknowledged, docs/reliability.md), which nats-server accepts
# from 2.10 on. Debian 12 ships 2.9.10, which refuses the setting; Debian 13's package (2.10.x)
# needs only libc6 >= 2.34 and adduser, so it installs on Debian 12 as it is. It is fetched from
# Debian's own archive through a throw-away apt configuration (its own sources list, package
# lists and cache in a temp dir) so the machine's apt never learns about trixie and upgrades
# nothing else from it; the .deb is then installed by path, its dependencies from the machine's
# own sources. Newer than the machine's candidate, it is not downgraded by a later upgrade.
nats_min=2.10.0
nats_version() { nats-server --version 2>/dev/null | sed -n 's/^nats-server: v//p'; }
nats_ok() { local v; v=$(nats_version); [ -n "$v" ] && dpkg --compare-versions "$v" ge "$nats_min"; }
# The Debian archive this machine already uses (its main suite, not the security one), from the
# deb822 .sources files or the one-line sources.list format: trixie is asked of the same mirror.
debian_mirror() {
  {
    sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
    sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -E '^https?://' | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1
}
install_nats_from_trixie() ( # a subshell, so its EXIT trap removes the temp dir
  tmp=$(mktemp -d -t flotilla-nats-deb-XXXXXX)
  trap '"${as_root[@]}" rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
  mirror=$(debian_mirror) && [ -n "$mirror" ] || { echo 'no Debian mirror found in the apt sources' >&2; return 1; }
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$tmp/sources.list"
  chmod 755 "$tmp"
  # apt drops to the _apt user to download; let it write into the private dirs.
  if id _apt >/dev/null 2>&1; then "${as_root[@]}" chown -R _apt "$tmp"; fi
  private=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives" -o APT::Get::List-Cleanup=0)
  # Called as `... || die`, where set -e does not apply: every step chained with &&.
  "${as_root[@]}" apt-get "${private[@]}" update -qq \
    && (cd "$tmp" && "${as_root[@]}" apt-get "${private[@]}" download -qq nats-server) \
    && deb=$(ls "$tmp"/nats-server_*.deb | head -n 1) && [ -n "$deb" ] \
    && "${as_root[@]}" apt-get update -qq \
    && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o Dpkg::Options::=--force-confold "$deb" >/dev/null
)
if ! nats_ok; then
  have=$(nats_version)
  say "nats-server ${have:-not found}: installing Debian 13's nats-server (JetStream's sync_interval needs >= $nats_min)"
  [ "$can_install" -eq 1 ] \
    || die "nats-server >= $nats_min needed and this user cannot install packages: as root, fetch Debian 13's nats-server package (see docs/reliability.md) and retry"
  install_nats_from_trixie \
    || die "could not install Debian 13's nats-server; install nats-server >= $nats_min by hand (docs/reliability.md) and retry"
  hash -r
fi
nats_ok || die "nats-server on PATH is $(nats_version), Flotilla needs >= $nats_min (Debian installs it as /usr/sbin/nats-server)"
