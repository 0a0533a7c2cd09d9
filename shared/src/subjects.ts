/**
 * NATS subjects of the control conversation. Every subject starts with a prefix (default
 * `flotilla`) so that several Flotilla installations can share one NATS account.
 *
 *   <prefix>.v1.announce.<hostId>    agent → controller   Announce: inventory and labels, at start and reconnect
 *   <prefix>.v1.heartbeat.<hostId>   agent → controller   Heartbeat: live figures and every app's status
 *   <prefix>.v1.assign.<hostId>      controller → agent   SignedAssignment: the host's desired state
 *   <prefix>.v1.sync.<hostId>        agent → controller   request; reply: SyncReply with the current assignment
 *
 * Level-triggered: an agent asks for its assignment (sync) at start and on every reconnect, and
 * the controller re-sends a host's assignment whenever a heartbeat shows the host behind. Nothing
 * depends on a single message arriving.
 */
export const DEFAULT_SUBJECT_PREFIX = 'flotilla';

export interface Subjects {
  announce(hostId: string): string;
  heartbeat(hostId: string): string;
  assign(hostId: string): string;
  sync(hostId: string): string;
  /** Wildcards the controller subscribes to. */
  readonly allAnnounce: string;
  readonly allHeartbeat: string;
  readonly allSync: string;
  /** The host id in a subject built by announce/heartbeat/sync, or undefined. */
  hostIdOf(subject: string): string | undefined;
}

export function subjects(prefix: string = DEFAULT_SUBJECT_PREFIX): Subjects {
  const base = `${prefix}.v1`;
  const head = `${base}.`;
  return Object.freeze({
    announce: (h: string) => `${base}.announce.${h}`,
    heartbeat: (h: string) => `${base}.heartbeat.${h}`,
    assign: (h: string) => `${base}.assign.${h}`,
    sync: (h: string) => `${base}.sync.${h}`,
    allAnnounce: `${base}.announce.*`,
    allHeartbeat: `${base}.heartbeat.*`,
    allSync: `${base}.sync.*`,
    // Runs for every message the controller takes in: no split, no array.
    hostIdOf(subject: string) {
      if (!subject.startsWith(head)) return undefined;
      const dot = subject.indexOf('.', head.length);
      if (dot === -1 || subject.indexOf('.', dot + 1) !== -1) return undefined;
      return subject.slice(dot + 1);
    },
  });
}

/**
 * The inbox prefix of a host's NATS connection: replies to its requests arrive on
 * `_INBOX_<hostId>.>`. The server lets a host subscribe there and nowhere else under an inbox,
 * so no host reads another's replies, and the controller answers a host only inside it.
 */
export function hostInboxPrefix(hostId: string): string {
  return `_INBOX_${hostId}`;
}

/**
 * Whether a reply subject lies inside the host's own inbox. Anything else (another host's
 * inbox, `$JS.API.…`, `$KV.…`, the controller's subjects) is a reply the controller must not send.
 */
export function isHostInbox(reply: string, hostId: string): boolean {
  const head = `${hostInboxPrefix(hostId)}.`;
  return reply.length > head.length && reply.startsWith(head) && !/[\s*>]/.test(reply);
}
