import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Where host counts come from at scrape time. */
export interface HostCounts {
  counts(): { up: number; down: number };
  /** Absent in fakes that know nothing of trust. */
  trustCounts?(): { stale: number; refusing: number; byKeyEpoch: Map<number, number> };
}

export type TransferResult = 'ok' | 'refused' | 'failed' | 'cancelled';

/**
 * The controller's Prometheus metrics, in a registry of its own (not prom-client's global one)
 * so that several controllers can live in one process in tests.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly heartbeats: Counter<never>;
  readonly heartbeatTicksWithoutBasis: Counter<never>;
  readonly announces: Counter<never>;
  readonly malformed: Counter<'kind'>;
  readonly uploads: Counter<'result'>;
  readonly uploadBytes: Counter<'result'>;
  readonly downloads: Counter<'result'>;
  readonly downloadBytes: Counter<never>;
  readonly assignmentsWritten: Counter<never>;
  readonly hostStateChanges: Counter<'state'>;
  readonly rolloutTransitions: Histogram<'phase'>;

  constructor(hosts: HostCounts) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'flotilla_controller_' });
    new Gauge({
      name: 'flotilla_hosts',
      help: 'Known hosts by state (up or down).',
      labelNames: ['state'],
      registers,
      collect() {
        const { up, down } = hosts.counts();
        this.set({ state: 'up' }, up);
        this.set({ state: 'down' }, down);
      },
    });
    new Gauge({
      name: 'flotilla_hosts_stale',
      help: 'Hosts holding only an expired assignment: they keep what runs and install nothing.',
      registers,
      collect() {
        this.set(hosts.trustCounts?.().stale ?? 0);
      },
    });
    new Gauge({
      name: 'flotilla_hosts_refusing_assignments',
      help: 'Hosts whose last heartbeat reports a refused assignment or key statement (signature, expiry, policy).',
      registers,
      collect() {
        this.set(hosts.trustCounts?.().refusing ?? 0);
      },
    });
    new Gauge({
      name: 'flotilla_hosts_key_epoch',
      help: 'Hosts by the controller-key epoch they trust.',
      labelNames: ['epoch'],
      registers,
      collect() {
        this.reset();
        for (const [epoch, n] of hosts.trustCounts?.().byKeyEpoch ?? []) this.set({ epoch: String(epoch) }, n);
      },
    });
    this.heartbeats = new Counter({ name: 'flotilla_heartbeats_received_total', help: 'Heartbeats accepted from hosts.', registers });
    this.heartbeatTicksWithoutBasis = new Counter({
      name: 'flotilla_heartbeat_ticks_without_basis_total',
      help: "Heartbeat ticks whose full heartbeat this controller does not hold: the host's deadline started over, nothing else was taken.",
      registers,
    });
    this.announces = new Counter({ name: 'flotilla_announces_received_total', help: 'Announces accepted from hosts.', registers });
    this.malformed = new Counter({
      name: 'flotilla_malformed_messages_total',
      help: 'NATS messages ignored as malformed or addressed inconsistently, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.uploads = new Counter({
      name: 'flotilla_artifact_uploads_total',
      help: 'Artifact uploads by result (ok, refused, failed, cancelled).',
      labelNames: ['result'],
      registers,
    });
    this.uploadBytes = new Counter({
      name: 'flotilla_artifact_upload_bytes_total',
      help: 'Artifact bytes received, by upload result.',
      labelNames: ['result'],
      registers,
    });
    this.downloads = new Counter({
      name: 'flotilla_artifact_downloads_total',
      help: 'Artifact downloads by result (ok, refused, failed, cancelled).',
      labelNames: ['result'],
      registers,
    });
    this.downloadBytes = new Counter({ name: 'flotilla_artifact_download_bytes_total', help: 'Artifact bytes sent.', registers });
    this.assignmentsWritten = new Counter({
      name: 'flotilla_assignments_written_total',
      help: 'Host assignments written (each with a new seq).',
      registers,
    });
    this.hostStateChanges = new Counter({
      name: 'flotilla_host_state_changes_total',
      help: 'Host up/down transitions, by the state entered.',
      labelNames: ['state'],
      registers,
    });
    this.rolloutTransitions = new Histogram({
      name: 'flotilla_rollout_transition_seconds',
      help: 'Controller time per rollout transition, by phase: decide, persist (the KV write), act (assignments), total.',
      labelNames: ['phase'],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
  }
}
