import type { TrafficSettings } from '../config.js';
import type { SlotWeight } from './slots.js';

/**
 * The first line of every file the agent writes: the agent replaces only files that start with
 * it, so an operator's own config in the include directory is never overwritten.
 */
export const UPSTREAM_MARKER = '# flotilla-agent upstream';

/** The upstream name an operator's `proxy_pass` points at. */
export function upstreamName(app: string): string {
  return `flotilla_${app}`;
}

export type UpstreamSettings = Pick<TrafficSettings, 'stickiness' | 'keepalive'> & {
  /** The host's name for this app's upstream (`apps.<app>.traffic.nginx.upstream`). @default upstreamName(app) */
  readonly upstream?: string;
};

/**
 * The nginx `upstream` block for one app. A slot at 0% stays in the block marked `down` rather
 * than leaving it: with `ip_hash` that keeps every other client's hash on the server it had.
 */
export function renderUpstream(app: string, slots: readonly SlotWeight[], settings: UpstreamSettings): string {
  const lines = [
    `${UPSTREAM_MARKER} for app ${app}; rewritten on every traffic change, do not edit.`,
    `upstream ${settings.upstream ?? upstreamName(app)} {`,
  ];
  if (settings.stickiness === 'ip_hash') lines.push('    ip_hash;');
  else if (settings.stickiness !== 'none') lines.push(`    hash ${settings.stickiness.hash} consistent;`);
  for (const s of slots) {
    // nginx weights start at 1: the percentage is the weight, and 0% is `down`.
    lines.push(s.weight > 0 ? `    server ${s.address} weight=${s.weight}; # slot ${s.slot}` : `    server ${s.address} down; # slot ${s.slot}`);
  }
  if (settings.keepalive > 0) lines.push(`    keepalive ${settings.keepalive};`);
  lines.push('}', '');
  return lines.join('\n');
}
