import type { Subscription } from '@nats-io/transport-node';
import { Counter } from 'prom-client';
import { subjects as makeSubjects, type AppStatusReport, type Logger } from '@flotilla/shared';
import type { AssignmentWriter } from './assignments.js';
import type { ControllerConfig } from './config.js';
import { HostMessageRate } from './host-rate.js';
import type { HostRegistry } from './hosts.js';
import type { ControllerMetrics } from './metrics.js';
import type { NatsLink } from './nats.js';
import type { StoreBehindLog } from './store-behind-log.js';
import { subscribeControlSubjects } from './subscriptions.js';

/** How long hosts get to reconnect after the controller's own NATS connection comes back. */
const HOSTS_RECONNECT_GRACE_MS = 5000;

export interface HostIntakeDeps {
  readonly config: ControllerConfig;
  /** Hears hosts and answers them; holds no JetStream rights (host-link.ts). */
  readonly hostLink: NatsLink;
  readonly hosts: HostRegistry;
  readonly assignments: AssignmentWriter;
  readonly metrics: ControllerMetrics;
  readonly storeBehind: StoreBehindLog;
  readonly isLeader: () => boolean;
  readonly logger: Logger;
}

export interface HostIntake {
  /** The control subjects' subscriptions (drained with the connection at shutdown). */
  readonly subscriptions: Subscription[];
  /** Stops hearing heartbeats' consequences and NATS state changes. */
  stop(): void;
}

/**
 * Starts hearing hosts: announces and heartbeats on the control subjects (rate-limited per host),
 * the leader's re-sends when a heartbeat shows a host behind, and the pause in judging hosts'
 * silence while the controller's own NATS connection is away. Called once per controller.
 */
export function listenToHosts(deps: HostIntakeDeps): HostIntake {
  const { config, hostLink, hosts, assignments, metrics, storeBehind } = deps;
  // The registry hands on reports that say nothing new as the objects it handed on before
  // (hosts.ts): their desired versions are worked out once, not every beat.
  const desiredByReports = new WeakMap<readonly AppStatusReport[], Readonly<Record<string, string | null>>>();
  const desiredOf = (apps: readonly AppStatusReport[]) => {
    let desired = desiredByReports.get(apps);
    if (desired === undefined) desiredByReports.set(apps, (desired = Object.freeze(Object.fromEntries(apps.map((a) => [a.app, a.desiredVersion])))));
    return desired;
  };
  const unsubscribeHosts = hosts.subscribe((event) => {
    if (event.type === 'heartbeat') {
      const { acceptedSeq, heartbeatIntervalMs, apps, trust } = event.heartbeat;
      // Re-sends and re-issues are writes to hosts: the leader's job.
      if (deps.isLeader()) {
        const desired = desiredOf(apps);
        const finding = assignments.noteAcceptedSeq(event.hostId, acceptedSeq, heartbeatIntervalMs, desired, trust);
        if (finding) storeBehind.note(finding);
      }
    } else if (event.type === 'state') {
      metrics.hostStateChanges.inc({ state: event.state });
    }
  });
  // Called once per controller, so the counter is registered once.
  const hostMessagesDropped = new Counter({
    name: 'flotilla_host_messages_dropped_total',
    help: 'Announces and heartbeats dropped because their host was over its message rate (limits.hostMessagesPerSecond), by kind.',
    labelNames: ['kind'],
    registers: [metrics.registry],
  });
  const subscriptions = subscribeControlSubjects({
    nc: hostLink.nc,
    subjects: makeSubjects(config.nats.subjectPrefix),
    hosts,
    assignments,
    metrics,
    logger: deps.logger,
    rate: new HostMessageRate({ perSecond: config.limits.hostMessagesPerSecond, burst: config.limits.hostMessageBurst }),
    onDropped: (kind) => hostMessagesDropped.inc({ kind }),
    // A controller that restarted (or was just elected) under hosts that stayed connected hears
    // only ticks naming full heartbeats it never got: re-sending the host's assignment (the
    // leader's job, like every write to hosts) makes its agent send a full heartbeat now, not
    // within `fullEvery` beats. No new subject: the host already listens on its assign subject.
    onTickWithoutBasis: (hostId) => {
      if (!deps.isLeader()) return;
      const intervalMs = hosts.intervalOf(hostId);
      if (intervalMs !== undefined) assignments.resendForBasis(hostId, intervalMs);
    },
  });
  // After the controller's own NATS outage, hosts need their own reconnect (the client waits a
  // second or two between tries) before their silence means anything: they are judged again
  // from a grace period after the reconnect, not from the reconnect itself.
  let resume: NodeJS.Timeout | undefined;
  const unsubscribeNats = hostLink.onStateChange((state) => {
    clearTimeout(resume);
    if (state !== 'connected') {
      hosts.setListening(false);
      return;
    }
    resume = setTimeout(() => hosts.setListening(true), HOSTS_RECONNECT_GRACE_MS);
    resume.unref();
  });
  return {
    subscriptions,
    stop: () => {
      unsubscribeHosts();
      clearTimeout(resume);
      unsubscribeNats();
    },
  };
}
