import type { Rollout__Output, RolloutHost__Output, RolloutHostReport__Output } from '@flotilla/proto';
import type { ClientFactory, ConnectOptions, ControllerClient } from './client.js';
import type { CliContext } from './context.js';

/** A CliContext whose output is captured and whose clock only moves when the CLI sleeps. */
export interface CapturedContext {
  readonly ctx: CliContext;
  /** Everything written to standard output so far. */
  out(): string;
  /** Everything written to standard error so far. */
  err(): string;
  /** Every set of connect options a verb opened a client with. */
  readonly connections: ConnectOptions[];
  /** Total time the CLI asked to sleep. */
  slept(): number;
  /** Every question the CLI asked. */
  readonly questions: string[];
}

export interface CaptureOptions {
  /** @default a factory that fails the test: the verb should not have talked to a controller */
  connect?: ClientFactory;
  env?: Record<string, string | undefined>;
  /** @default false */
  isTTY?: boolean;
  /** Start of the fake clock. @default 1_700_000_000_000 */
  nowMs?: number;
  /** Run real timers in sleep (for a real server whose answers change over time). @default false */
  realSleep?: boolean;
  /** Whether standard input is a terminal (questions can be asked). @default false */
  stdinIsTTY?: boolean;
  /** What the operator answers to questions, in order. @default none (a question fails the test) */
  answers?: string[];
}

/** For running verbs in-process in tests. */
export function captureContext(options: CaptureOptions = {}): CapturedContext {
  let out = '';
  let err = '';
  let now = options.nowMs ?? 1_700_000_000_000;
  let slept = 0;
  const connections: ConnectOptions[] = [];
  const questions: string[] = [];
  const answers = [...(options.answers ?? [])];
  const connect: ClientFactory =
    options.connect ??
    (() => {
      throw new Error('this command should not have connected to a controller');
    });
  const ctx: CliContext = {
    out: { write: (s: string) => (out += s) },
    err: { write: (s: string) => (err += s) },
    env: options.env ?? {},
    isTTY: options.isTTY ?? false,
    now: () => now,
    sleep: async (ms) => {
      slept += ms;
      now += ms;
      if (options.realSleep) await new Promise((resolve) => setTimeout(resolve, ms));
    },
    connect: (o) => {
      connections.push(o);
      return connect(o);
    },
    stdinIsTTY: options.stdinIsTTY ?? false,
    ask: async (question) => {
      questions.push(question);
      out += question;
      const answer = answers.shift();
      if (answer === undefined) throw new Error(`unexpected question: ${question}`);
      return answer;
    },
  };
  return { ctx, out: () => out, err: () => err, connections, slept: () => slept, questions };
}

/** A ControllerClient whose every call fails unless the test provides it. */
export function fakeClient(calls: Partial<ControllerClient> = {}): ControllerClient {
  const unexpected = (name: string) => () => Promise.reject(new Error(`unexpected call ${name}`));
  return {
    address: 'fake:0',
    listArtifacts: unexpected('ListArtifacts'),
    listHosts: unexpected('ListHosts'),
    getStatus: unexpected('GetStatus'),
    deploy: unexpected('Deploy'),
    startRollout: unexpected('StartRollout'),
    getRollout: unexpected('GetRollout'),
    listRollouts: unexpected('ListRollouts'),
    rolloutCommand: unexpected('RolloutCommand'),
    getHistory: unexpected('GetHistory'),
    rollback: unexpected('Rollback'),
    listEvents: unexpected('ListEvents'),
    whoami: unexpected('Whoami'),
    revokeHost: unexpected('RevokeHost'),
    collectArtifacts: unexpected('CollectArtifacts'),
    removeArtifact: unexpected('RemoveArtifact'),
    watchRollout: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('unexpected call WatchRollout')) }),
    }),
    upload: unexpected('Upload'),
    close: () => {},
    ...calls,
  };
}

/** A host of a rollout as the controller reports it (for tests); running the target healthy by default. */
export function testRolloutHost(hostId: string, over: Partial<RolloutHost__Output> = {}): RolloutHost__Output {
  return {
    host_id: hostId,
    step: 0,
    state: 'assigned',
    assigned_at_ms: '1700000000000',
    healthy_since_ms: '0',
    passed_at_ms: '0',
    failed_at_ms: '0',
    failure_reason: '',
    reverted_at_ms: '0',
    down: false,
    removed: false,
    last_report: null,
    ...over,
  };
}

/** A report as a rollout host carries it (for tests). */
export function testReport(over: Partial<RolloutHostReport__Output> = {}): RolloutHostReport__Output {
  return { active_version: '2.0', process_state: 'running', health: 'healthy', install_phase: 'done', restarts: 0, error: '', traffic_weight: '', ...over };
}

/** A rollout as the controller reports it (for tests): web@2.0 over the hosts given, in one step. */
export function testRollout(over: Partial<Rollout__Output> = {}): Rollout__Output {
  const hosts = over.hosts ?? [testRolloutHost('h1')];
  const count = (pred: (h: RolloutHost__Output) => boolean) => hosts.filter(pred).length;
  return {
    id: 'web-1',
    app: 'web',
    version: '2.0',
    status: 'running',
    stable_version: '1.0',
    strategy: {
      selector: '',
      kind: 'steps',
      canary: '',
      batch: '',
      steps: ['100%'],
      spread_by: 'zone',
      min_healthy_time_ms: '0',
      healthy_deadline_ms: '300000',
      bake_ms: '0',
      canary_bake_ms: '0',
      max_failures: '0',
      pause_after_canary: false,
      stable_after_ms: '0',
      auto_revert: false,
      max_restarts: 3,
      watch_window_ms: '600000',
    },
    steps: [
      {
        index: 0,
        host_ids: hosts.map((h) => h.host_id),
        target_count: hosts.length,
        started_at_ms: '1700000000000',
        passed_at_ms: '0',
        bake_until_ms: '0',
      },
    ],
    current_step: 0,
    hosts,
    counters: {
      hosts: hosts.length,
      pending: count((h) => h.state === 'pending'),
      in_progress: count((h) => h.state === 'assigned' || h.state === 'healthy-wait'),
      passed: count((h) => h.state === 'passed'),
      failed: count((h) => h.state === 'failed'),
      skipped: 0,
      reverting: count((h) => h.state === 'reverting'),
      reverted: count((h) => h.state === 'reverted'),
    },
    failure_limit: 0,
    pause_reason: '',
    paused_at_ms: '0',
    paused_by: '',
    promoted_at_ms: '0',
    stabilise_until_ms: '0',
    created_at_ms: '1700000000000',
    updated_at_ms: '1700000000000',
    finished_at_ms: '0',
    end_reason: '',
    ended_by: '',
    created_by: 'alice',
    log: [],
    now_ms: '1700000000000',
    events: [],
    ...over,
  };
}
