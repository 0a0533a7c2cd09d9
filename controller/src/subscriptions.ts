import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  HOST_ID,
  decodeAnnounce,
  decodeHeartbeat,
  decodeHeartbeatTick,
  encodeMessage,
  isHeartbeatTick,
  isHostInbox,
  type Logger,
  type SignedAssignment,
  type Subjects,
} from '@flotilla/shared';
import type { AssignmentPublisher, AssignmentWriter } from './assignments.js';
import type { HostMessageRate } from './host-rate.js';
import type { HostRegistry } from './hosts.js';
import type { ControllerMetrics } from './metrics.js';

/** Sync requests are answered by one controller of a group, whichever gets it first. */
export const SYNC_QUEUE_GROUP = 'flotilla-controller';

/** Publishes assignments on `<prefix>.v1.assign.<host>`. */
export function natsAssignmentPublisher(nc: NatsConnection, subjects: Subjects): AssignmentPublisher {
  return {
    publish(hostId: string, signed: SignedAssignment) {
      nc.publish(subjects.assign(hostId), encodeMessage(signed));
    },
  };
}

export interface ControlSubjectsDeps {
  nc: NatsConnection;
  subjects: Subjects;
  hosts: HostRegistry;
  assignments: AssignmentWriter;
  metrics: ControllerMetrics;
  logger: Logger;
  /** Per-host rate limit on announces and heartbeats, checked before a message is decoded. */
  rate?: HostMessageRate;
  /** Counts messages the rate limit dropped. */
  onDropped?: (kind: 'announce' | 'heartbeat') => void;
  /**
   * A tick named a full heartbeat of a known host that the registry does not hold: the caller
   * asks that host for a full one (host-intake.ts). Called after the host's rate limit, so at most
   * as often as its messages are admitted.
   */
  onTickWithoutBasis?: (hostId: string) => void;
  /** @default Date.now */
  now?: () => number;
}

/**
 * What the controller offers agents in its sync replies: heartbeat ticks between full heartbeats,
 * and a full one at least this often. Ten beats bounds how long a lost full heartbeat leaves the
 * controller with an older picture of a host's apps (liveness is never in doubt: ticks carry it).
 */
export const HEARTBEAT_TICK_OFFER = Object.freeze({ fullEvery: 10 });

/** How often the hosts whose messages were dropped are logged (with how many each). */
const DROP_REPORT_MS = 10_000;

/**
 * Subscribes to the agents' side of the control conversation: announces and heartbeats go to
 * the host registry, sync requests are answered with the host's current assignment. Malformed
 * messages, and messages whose subject names another host than their body, are counted and
 * logged at debug, never acted on; a sync request whose reply subject is not in the host's own
 * inbox is counted and logged at warn, never answered. `nc` is the host-facing connection
 * (host-link.ts). Returns the subscriptions (drained at shutdown).
 */
export function subscribeControlSubjects(deps: ControlSubjectsDeps): Subscription[] {
  const { nc, subjects, hosts, assignments, metrics } = deps;
  const logger = deps.logger.child({ component: 'control-subjects' });
  const now = deps.now ?? Date.now;
  let reportedAtMs = now();
  /** False when the host is over its rate: the message is dropped undecoded, and counted. */
  const admitted = (kind: 'announce' | 'heartbeat', hostId: string | undefined): boolean => {
    // A subject without a host id is refused as malformed right after this.
    if (!deps.rate || hostId === undefined) return true;
    const t = now();
    if (deps.rate.admit(hostId, t)) return true;
    deps.onDropped?.(kind);
    if (t - reportedAtMs >= DROP_REPORT_MS) {
      reportedAtMs = t;
      for (const { hostId: flooding, dropped } of deps.rate.takeDropped()) {
        logger.warn({ hostId: flooding, dropped, total: deps.rate.droppedBy(flooding) }, 'host over its message rate; messages dropped');
      }
    }
    return false;
  };

  // `reason` names what is wrong; `err`, when parsing threw, keeps the parser's own words.
  const malformed = (kind: string, msg: Msg, reason: string, err?: unknown) => {
    metrics.malformed.inc({ kind });
    logger.debug({ kind, subject: msg.subject, reason, err }, 'ignoring malformed message');
  };

  const announce = nc.subscribe(subjects.allAnnounce, {
    callback: (err, msg) => {
      if (err) return;
      const hostId = subjects.hostIdOf(msg.subject);
      if (!admitted('announce', hostId)) return;
      let body;
      try {
        body = decodeAnnounce(msg.data);
      } catch (e) {
        return malformed('announce', msg, 'body does not parse', e);
      }
      if (body.hostId !== hostId) return malformed('announce', msg, `body names host "${body.hostId}"`);
      metrics.announces.inc();
      assignments.noteAnnounce(body.hostId, body.assignmentProofs === true);
      hosts.handleAnnounce(body).catch((e: unknown) => logger.error({ hostId, err: e }, 'announce failed'));
    },
  });

  const heartbeat = nc.subscribe(subjects.allHeartbeat, {
    callback: (err, msg) => {
      if (err) return;
      const hostId = subjects.hostIdOf(msg.subject);
      if (!admitted('heartbeat', hostId)) return;
      if (isHeartbeatTick(msg.data)) return takeTick(msg, hostId);
      let body;
      try {
        body = decodeHeartbeat(msg.data);
      } catch (e) {
        return malformed('heartbeat', msg, 'body does not parse', e);
      }
      if (body.hostId !== hostId) return malformed('heartbeat', msg, `body names host "${body.hostId}"`);
      let accepted: boolean;
      try {
        accepted = hosts.takeHeartbeat(body);
      } catch (e) {
        return logger.error({ hostId, err: e }, 'heartbeat failed');
      }
      if (accepted) metrics.heartbeats.inc();
      else logger.debug({ hostId, n: body.n, bootId: body.bootId }, 'dropping out-of-order heartbeat');
    },
  });

  // The tick names no host: the subject does, and must be a valid host id, as a JSON heartbeat's
  // body must match it.
  const takeTick = (msg: Msg, hostId: string | undefined): void => {
    if (hostId === undefined || !HOST_ID.test(hostId)) return malformed('heartbeat', msg, 'subject names no valid host id');
    let tick;
    try {
      tick = decodeHeartbeatTick(msg.data);
    } catch (e) {
      return malformed('heartbeat', msg, 'tick does not parse', e);
    }
    let outcome;
    try {
      outcome = hosts.takeTick(hostId, tick);
    } catch (e) {
      return logger.error({ hostId, err: e }, 'heartbeat failed');
    }
    if (outcome === 'taken') metrics.heartbeats.inc();
    else if (outcome === 'no-basis') {
      metrics.heartbeatTicksWithoutBasis.inc();
      try {
        deps.onTickWithoutBasis?.(hostId);
      } catch (e) {
        logger.error({ hostId, err: e }, 'asking for a full heartbeat failed');
      }
    }
    else logger.debug({ hostId, n: tick.n, bootId: tick.bootId }, 'dropping out-of-order heartbeat');
  };

  const sync = nc.subscribe(subjects.allSync, {
    queue: SYNC_QUEUE_GROUP,
    callback: (err, msg) => {
      if (err) return;
      const hostId = subjects.hostIdOf(msg.subject);
      if (!hostId || !HOST_ID.test(hostId)) return malformed('sync', msg, 'subject names no valid host id');
      if (!msg.reply) return malformed('sync', msg, 'request has no reply subject');
      // The requester picks the reply subject. Answering on `$JS.API.STREAM.PURGE.…` or
      // `$KV.<bucket>.<key>` would make the controller's answer a JetStream call, so a host is
      // answered in its own inbox or not at all. Hostile, not malformed: it warns.
      if (!isHostInbox(msg.reply, hostId)) {
        metrics.malformed.inc({ kind: 'sync-reply-subject' });
        logger.warn({ hostId, reply: msg.reply.slice(0, 200) }, 'refusing a sync reply outside the host inbox');
        return;
      }
      assignments.syncReply(hostId).then(
        (reply) => {
          if (reply) msg.respond(encodeMessage({ ...reply, heartbeatTicks: HEARTBEAT_TICK_OFFER }));
          logger.debug({ hostId, answered: reply !== undefined, hasAssignment: Boolean(reply?.assignment) }, 'sync request');
        },
        (e: unknown) => logger.error({ hostId, err: e }, 'sync failed'),
      );
    },
  });

  return [announce, heartbeat, sync];
}
