import { isIP, isIPv6 } from 'node:net';

/**
 * What this controller tells others it is reachable at (the cluster's member records, status and
 * /healthz, where agents and the CLI learn controllers): a listener's own host, or the
 * `advertise` setting, never an address that means "every interface" to whoever dials it.
 */

/** Hosts a listener binds to mean "every interface": nobody can dial them from elsewhere. */
export function isWildcardHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h === '' || h === '0.0.0.0' || h === '*') return true;
  if (isIPv6(h)) return /^[0:]+$/.test(h);
  return false;
}

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * Checks an `advertise` value: a DNS name or an IP address (IPv6 with or without brackets), no
 * port (each listener keeps its own), not a wildcard. Returns it bare (no brackets); throws an
 * Error saying what is wrong.
 */
export function parseAdvertise(raw: string): string {
  const value = raw.trim();
  if (value === '') throw new Error('must name the host others reach this controller at');
  const bare = value.replace(/^\[(.*)\]$/, '$1');
  if (isWildcardHost(bare)) {
    throw new Error(`"${value}" means every interface to whoever dials it; name this machine's address or DNS name instead`);
  }
  if (isIP(bare) !== 0) return bare;
  if (/:\d+$/.test(value)) throw new Error(`"${value}" has a port: advertise names the host only (each listener advertises its own port)`);
  if (value.length > 253 || !value.split('.').every((l) => LABEL.test(l))) throw new Error(`"${value}" is neither a DNS name nor an IP address`);
  return value;
}

/**
 * The address advertised for a listener on `listenHost`:`port`: `advertise` when set, else the
 * listener's own host, else (a wildcard listener) the machine's name. `machineName` is
 * os.hostname(), passed in so the choice is testable.
 */
export function advertisedAddress(listenHost: string, port: number, advertise: string | undefined, machineName: string): { address: string; guessed: boolean } {
  let host = advertise;
  let guessed = false;
  if (host === undefined) {
    if (!isWildcardHost(listenHost)) host = listenHost.replace(/^\[(.*)\]$/, '$1');
    else {
      guessed = true;
      host = usableName(machineName) ?? '127.0.0.1';
    }
  }
  return { address: isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`, guessed };
}

function usableName(name: string): string | undefined {
  try {
    const parsed = parseAdvertise(name);
    return /^localhost(\.|$)/i.test(parsed) ? undefined : parsed;
  } catch {
    return undefined;
  }
}
