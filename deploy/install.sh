#!/usr/bin/env bash
# Installs Flotilla from this checkout into /opt/flotilla with systemd units.
#   sudo deploy/install.sh agent        # on every host
#   sudo deploy/install.sh controller   # on the control-plane host (with nats-server)
set -euo pipefail
role=${1:-}
case "$role" in agent|controller) ;; *) echo "usage: $0 agent|controller" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "error: run as root (it writes /opt, /etc and systemd units)" >&2; exit 1; }
src=$(cd "$(dirname "$0")/.." && pwd)

id flotilla >/dev/null 2>&1 || useradd --system --home /var/lib/flotilla --shell /usr/sbin/nologin flotilla
if [ "$role" = controller ] && ! command -v nats-server >/dev/null; then
XX
fi

mkdir -p /opt/flotilla /etc/flotilla/keys
tar -C "$src" --exclude=node_modules --exclude=.git --exclude='*/dist' -cf - . | tar -C /opt/flotilla -xf -
# The build needs TypeScript (a dev dependency); everything else at run time is a dependency.
(cd /opt/flotilla && npm ci --no-audit --no-fund --loglevel=error && npx tsc -b proto shared "$role")

[ -f "/etc/flotilla/$role.yaml" ] || cp "$src/deploy/config/$role.yaml" "/etc/flotilla/$role.yaml"
install -m 0644 "$src/deploy/systemd/flotilla-$role.service" /etc/systemd/system/
chown -R flotilla:flotilla /etc/flotilla
systemctl daemon-reload
echo "installed. Edit /etc/flotilla/$role.yaml, put keys in /etc/flotilla/keys, then: systemctl enable --now flotilla-$role"
