import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import {
  HEALTH_STATES,
  INSTALL_PHASES,
  PROCESS_STATES,
  decodeHeartbeat,
  encodeMessage,
  heartbeatSchema,
  isWellFormedHeartbeat,
  type AppStatusReport,
  type Heartbeat,
} from './messages.js';

/**
 * What decoding a heartbeat did before the fast check existed: the schema alone. The fast path
 * must give the same answer, the same value and the same error for every message.
 */
function decodeWithSchemaOnly(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: 'heartbeat is not valid JSON' };
  }
  const r = heartbeatSchema.safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  return {
    ok: false,
    message: `heartbeat is invalid: ${issue ? `${issue.path.join('.') || '(root)'} ${issue.message}` : 'unknown problem'}`,
  };
}

function decodeText(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: decodeHeartbeat(new TextEncoder().encode(text)) };
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return { ok: false, message: (err as Error).message };
  }
}

/** The fast path may only accept what the schema accepts, returned unchanged; decoding must match the schema's. */
function expectSameAsSchema(text: string): { fast: boolean; accepted: boolean } {
  const expected = decodeWithSchemaOnly(text);
  let fast = false;
  try {
    fast = isWellFormedHeartbeat(JSON.parse(text));
  } catch {
    // not JSON: nothing for the fast check to look at
  }
  if (fast) {
    expect(expected.ok, `fast path accepted what the schema rejects: ${text.slice(0, 300)}`).toBe(true);
    if (expected.ok) expect(JSON.parse(text)).toStrictEqual(expected.value);
  }
  expect(decodeText(text)).toStrictEqual(expected);
  return { fast, accepted: expected.ok };
}

function report(overrides: Partial<AppStatusReport> = {}): AppStatusReport {
  return {
    app: 'web',
    desiredVersion: '1.4.2',
    activeVersion: '1.4.2',
    processState: 'running',
    pid: 4242,
    restarts: 0,
    health: 'healthy',
    healthSinceMs: 1_700_000_000_000,
    installPhase: 'done',
    installVersion: null,
    error: null,
    updatedAtMs: 1_700_000_000_500,
    ...overrides,
  };
}

function heartbeat(overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    type: 'heartbeat',
    hostId: 'web-01',
    n: 17,
    bootId: 'b3f1c2d4-0000-4000-8000-000000000001',
    sentAtMs: 1_700_000_001_000,
    heartbeatIntervalMs: 5000,
    acceptedSeq: 3,
    load: { cpuPercent: 12.5, memUsedBytes: 2 * 1024 ** 3, memTotalBytes: 8 * 1024 ** 3, diskFreeBytes: 40 * 1024 ** 3 },
    apps: [report()],
    labels: { env: 'prod', zone: 'eu-1', 'app.kubernetes.io/name': 'web' },
    ...overrides,
  };
}

/** A small seeded generator, so that a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Stands for a JSON number that JSON.stringify cannot write (it is spliced into the text). */
const RAW = (token: string) => `\u0000raw:${token}`;

const ODD_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  1,
  -1,
  0.5,
  17,
  1e21,
  2 ** 31,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  2 ** 53 + 2,
  -Number.MAX_SAFE_INTEGER,
  RAW('1e400'),
  RAW('-1e400'),
  RAW('-0'),
  RAW('1.0'),
  '',
  'a',
  'heartbeat',
  'announce',
  'web',
  'Web',
  '1.0.0',
  '1.0.',
  '..',
  '-x',
  'x'.repeat(63),
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(128),
  'x'.repeat(129),
  'x'.repeat(4096),
  'x'.repeat(4097),
  '😀'.repeat(32),
  '😀'.repeat(33),
  '😀'.repeat(2048),
  '😀'.repeat(2049),
  'é',
  'running',
  'crash-loop',
  'healthy',
  'unknown',
  'done',
  [],
  [1],
  {},
  { a: 1 },
];

const LABEL_KEYS = ['env', 'zone', 'Z9', 'a.b/c', 'x'.repeat(63), 'x'.repeat(64), '', '-x', '_x', 'é', '__proto__', 'constructor', '1', '10'];
const LABEL_VALUES = ['', 'prod', 'a-b_c.d', 'x'.repeat(63), 'x'.repeat(64), 'a b', 'é'];
const EXTRA_KEYS = ['extra', 'Type', 'hostid', '__proto__', 'constructor', 'toString', '0'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)] as T;
}

/** A fresh copy: the odd objects and arrays get mutated in turn once inserted. */
function odd(rand: () => number): Json {
  return structuredClone(pick(rand, ODD_VALUES)) as Json;
}

function randomReport(rand: () => number): AppStatusReport {
  const version = () => (rand() < 0.3 ? null : pick(rand, ['1.0.0', '2.0.0-rc.1', 'v3', 'a_b-c']));
  return report({
    app: pick(rand, ['web', 'api', 'worker-1', 'x'.repeat(63)]),
    desiredVersion: version(),
    activeVersion: version(),
    processState: pick(rand, PROCESS_STATES),
    pid: rand() < 0.3 ? null : 1 + Math.floor(rand() * 100_000),
    restarts: Math.floor(rand() * 5),
    health: pick(rand, HEALTH_STATES),
    healthSinceMs: Math.floor(rand() * 2e12),
    installPhase: pick(rand, INSTALL_PHASES),
    installVersion: version(),
    error: rand() < 0.7 ? null : pick(rand, ['', 'download failed: connection reset', 'x'.repeat(4096)]),
    updatedAtMs: rand() * 2e12,
  });
}

function randomHeartbeat(rand: () => number): Heartbeat {
  const labels: Record<string, string> = {};
  for (let i = Math.floor(rand() * 4); i > 0; i--) labels[pick(rand, LABEL_KEYS.slice(0, 5))] = pick(rand, LABEL_VALUES.slice(0, 4));
  const apps: AppStatusReport[] = [];
  for (let i = Math.floor(rand() * 4); i > 0; i--) apps.push(randomReport(rand));
  return heartbeat({
    hostId: pick(rand, ['h', 'web-01', 'sim-00042', 'A_b-9', 'x'.repeat(128)]),
    n: 1 + Math.floor(rand() * 1e6),
    bootId: pick(rand, ['b', 'boot-1', 'x'.repeat(64)]),
    sentAtMs: rand() < 0.1 ? 0 : rand() * 2e12,
    heartbeatIntervalMs: pick(rand, [1, 1000, 5000]),
    acceptedSeq: pick(rand, [0, 1, 99]),
    load: { cpuPercent: rand() * 100, memUsedBytes: Math.floor(rand() * 1e10), memTotalBytes: 1e10, diskFreeBytes: 0 },
    apps,
    labels,
  });
}

/** Every object and array inside the value, with the path to it. */
function containers(value: Json, path: (string | number)[] = [], out: { path: (string | number)[]; node: Json[] | { [k: string]: Json } }[] = []) {
  if (value !== null && typeof value === 'object') {
    out.push({ path, node: value });
    if (Array.isArray(value)) value.forEach((v, i) => containers(v, [...path, i], out));
    else for (const [k, v] of Object.entries(value)) containers(v, [...path, k], out);
  }
  return out;
}

/** One random change: a member removed, replaced, added or renamed, or an array grown or emptied. */
function mutate(root: { [k: string]: Json }, rand: () => number): void {
  const { node } = pick(rand, containers(root));
  if (Array.isArray(node)) {
    const r = rand();
    if (r < 0.2) node.length = 0;
    else if (r < 0.4 && node.length > 0) node.push(...Array.from({ length: 256 - node.length + Math.floor(rand() * 2) }, () => node[0] as Json));
    else if (r < 0.6 && node.length > 0) node.splice(Math.floor(rand() * node.length), 1);
    else if (node.length > 0) node[Math.floor(rand() * node.length)] = odd(rand);
    else node.push(odd(rand));
    return;
  }
  const keys = Object.keys(node);
  const r = rand();
  if (r < 0.2 && keys.length > 0) {
    delete node[pick(rand, keys)];
  } else if (r < 0.6 && keys.length > 0) {
    node[pick(rand, keys)] = odd(rand);
  } else if (r < 0.8) {
    const key = pick(rand, [...EXTRA_KEYS, ...LABEL_KEYS]);
    // An own `__proto__` member, as JSON.parse makes one (assignment would set the prototype).
    Object.defineProperty(node, key, { value: rand() < 0.5 ? pick(rand, LABEL_VALUES) : odd(rand), enumerable: true, writable: true, configurable: true });
  } else if (keys.length > 0) {
    const key = pick(rand, keys);
    const value = node[key] as Json;
    delete node[key];
    node[key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase()] = value;
  }
}

function toText(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0000raw:([^"]*)"/g, '$1');
}

describe('decoding heartbeats', () => {
  it('takes well-formed heartbeats on the fast path, as sent', () => {
    for (const hb of [heartbeat(), heartbeat({ apps: [] }), heartbeat({ labels: {} }), heartbeat({ apps: [report(), report({ app: 'api', pid: null, error: 'x'.repeat(4096) })] }), heartbeat({ apps: [report({ trafficWeight: 10 })] })]) {
      expect(isWellFormedHeartbeat(JSON.parse(JSON.stringify(hb)))).toBe(true);
      expect(decodeHeartbeat(encodeMessage(hb))).toStrictEqual(hb);
    }
  });

  it('accepts and rejects exactly what the schema does, at the edges of every rule', () => {
    const cases: unknown[] = [
      heartbeat({ n: 0 }),
      heartbeat({ n: 1 }),
      heartbeat({ n: 1.5 }),
      heartbeat({ n: Number.MAX_SAFE_INTEGER + 1 }),
      heartbeat({ acceptedSeq: 0 }),
      heartbeat({ acceptedSeq: -1 }),
      heartbeat({ heartbeatIntervalMs: 0 }),
      heartbeat({ sentAtMs: 0 }),
      heartbeat({ sentAtMs: -0.5 }),
      heartbeat({ sentAtMs: RAW('1e400') as never }),
      heartbeat({ sentAtMs: RAW('-0') as never }),
      heartbeat({ bootId: '' }),
      heartbeat({ bootId: 'x'.repeat(64) }),
      heartbeat({ bootId: 'x'.repeat(65) }),
      // 66 UTF-16 units, 33 code points: the schema counts code points and takes it.
      heartbeat({ bootId: '😀'.repeat(33) }),
      heartbeat({ hostId: 'x'.repeat(128) }),
      heartbeat({ hostId: 'x'.repeat(129) }),
      heartbeat({ hostId: 'web.01' }),
      heartbeat({ type: 'announce' as never }),
      heartbeat({ apps: Array.from({ length: 256 }, () => report()) }),
      heartbeat({ apps: Array.from({ length: 257 }, () => report()) }),
      heartbeat({ apps: [report({ pid: 0 })] }),
      heartbeat({ apps: [report({ restarts: 0.5 })] }),
      heartbeat({ apps: [report({ processState: 'zombie' as never })] }),
      heartbeat({ apps: [report({ health: 'HEALTHY' as never })] }),
      heartbeat({ apps: [report({ installPhase: 'idle' })] }),
      heartbeat({ apps: [report({ activeVersion: '../etc' })] }),
      heartbeat({ apps: [report({ error: 'x'.repeat(4097) })] }),
      heartbeat({ apps: [report({ error: '😀'.repeat(2048) })] }),
      heartbeat({ apps: [report({ error: '😀'.repeat(2049) })] }),
      heartbeat({ apps: [{ ...report(), extra: 1 } as never] }),
      heartbeat({ apps: [report({ trafficWeight: 0 })] }),
      heartbeat({ apps: [report({ trafficWeight: 100 })] }),
      heartbeat({ apps: [report({ trafficWeight: 101 })] }),
      heartbeat({ apps: [report({ trafficWeight: 10.5 })] }),
      heartbeat({ apps: [report({ trafficWeight: -1 })] }),
      heartbeat({ apps: [report({ trafficWeight: null as never })] }),
      heartbeat({ apps: [{ ...report(), trafficWeight: undefined }] }),
      heartbeat({ apps: {} as never }),
      heartbeat({ load: { cpuPercent: 1, memUsedBytes: 1, memTotalBytes: 1 } as never }),
      heartbeat({ load: [] as never }),
      heartbeat({ labels: { env: 'x'.repeat(63) } }),
      heartbeat({ labels: { env: 'x'.repeat(64) } }),
      heartbeat({ labels: { 'bad key': 'x' } }),
      heartbeat({ labels: { env: 1 as never } }),
      heartbeat({ labels: [] as never }),
      { ...heartbeat(), extra: true },
      { ...heartbeat(), labels: undefined },
      [],
      null,
      'heartbeat',
      42,
    ];
    for (const c of cases) expectSameAsSchema(toText(c));
    // JSON.parse makes `__proto__` an own member; the schema skips such a label, and drops such a field.
    expectSameAsSchema(toText(heartbeat()).replace('"labels":{', '"labels":{"__proto__":"x",'));
    expectSameAsSchema(toText(heartbeat()).replace('"labels":{', '"labels":{"__proto__":{"a":1},'));
    expectSameAsSchema(toText(heartbeat()).replace('{', '{"__proto__":{"type":"heartbeat"},'));
    expectSameAsSchema('{"type":"heartbeat",');
    expectSameAsSchema('');
  });

  it('matches the schema on thousands of randomly broken heartbeats', () => {
    const rand = prng(20_251_122);
    const tally = { fast: 0, slowAccepted: 0, rejected: 0 };
    for (let i = 0; i < 4000; i++) {
      const value = JSON.parse(JSON.stringify(randomHeartbeat(rand))) as { [k: string]: Json };
      for (let m = Math.floor(rand() * 4); m > 0; m--) mutate(value, rand);
      const { fast, accepted } = expectSameAsSchema(toText(value));
      if (fast) tally.fast++;
      else if (accepted) tally.slowAccepted++;
      else tally.rejected++;
    }
    // Each outcome must have come up often enough for the comparison to mean something.
    expect(tally.fast).toBeGreaterThan(400);
    expect(tally.slowAccepted).toBeGreaterThan(50);
    expect(tally.rejected).toBeGreaterThan(1000);
  });
});
