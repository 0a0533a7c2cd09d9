import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { InternalError, ValidationError } from '@flotilla/shared';
import {
  HostTable,
  fieldsOf,
  hostTableOf,
  stateOf,
  type HostProgress,
  type HostState,
  type ReportSummary,
  type RolloutFields,
  type RolloutState,
} from '../engine/index.js';
import type { ValueCodec } from '../store/kv.js';
import { rolloutSchemas } from './records.js';

/*
 * How a rollout's state is stored: one KV value, written with compare-and-set, whatever the
 * number of hosts. The hosts are the bulk of it, so they are stored by column, not as one JSON
 * object each:
 *
 *   { "format": 2, <every field of RolloutState but hosts>, "hosts": {
 *       "count": 3,
 *       "state": "Pha",                  one letter a host (STATE_LETTERS)
 *       "flags": "010",                  1 down + 2 removed
 *       "assignedAtMs": "k3,0,2",        each time column: base-36 difference from the host
 *       ...                              before it (the first from createdAtMs), empty = null
 *       "failureReason": ",,0",          index into "reasons", empty = none
 *       "reasons": ["..."],
 *       "lastReport": "0,0,1",           index into "reports", empty = none
 *       "reports": [[activeVersion, processState, health, installPhase, restarts, error]] } }
 *
 * Host ids and steps are not repeated: the hosts are in plan order, the order of the steps'
 * hostIds. Above PLAIN_UP_TO bytes the JSON is deflated behind DEFLATE_MARKER (the first byte of
 * JSON is "{", the marker's is not). A value written by a controller of the first format is the
 * state's plain JSON (`"schema":1` and no "format"): it is still read, and rewritten in this
 * format at the rollout's next change.
 */

/** The format written. */
export const STATE_FORMAT = 2;
/** Starts a deflated value (raw deflate of the JSON follows). */
export const DEFLATE_MARKER = 'flotilla-rollout/2+deflate\n';
/** Values up to this size stay readable JSON (small rollouts, what `nats kv get` shows). */
export const PLAIN_UP_TO = 16 * 1024;
/**
 * The largest value written: NATS's default max_payload (1 MiB) less room for the message's
 * subject and headers. Deployments keep the default; a larger state is refused with a reason.
 */
export const STATE_VALUE_LIMIT = 1_000_000;

const TIME_COLUMNS = [
  'assignedAtMs',
  'assignSentAtMs',
  'assignAckedAtMs',
  'healthySinceMs',
  'unhealthySinceMs',
  'passedAtMs',
  'failedAtMs',
  'revertSentAtMs',
  'revertedAtMs',
] as const satisfies readonly (keyof HostProgress)[];
type TimeColumn = (typeof TIME_COLUMNS)[number];

/*
 * Every field of HostProgress is stored by exactly one column (or comes from the steps): adding
 * a field without a column is a compile error here.
 */
type Stored = TimeColumn | 'hostId' | 'step' | 'state' | 'down' | 'removed' | 'failureReason' | 'lastReport';
const everyFieldStored: Record<Exclude<keyof HostProgress, Stored>, never> = {};
void everyFieldStored;

const STATE_LETTERS: Readonly<Record<HostState, string>> = {
  pending: 'p',
  assigned: 'a',
  'healthy-wait': 'h',
  passed: 'P',
  failed: 'f',
  skipped: 's',
  reverting: 'r',
  reverted: 'R',
};
const LETTER_STATES = new Map(Object.entries(STATE_LETTERS).map(([state, letter]) => [letter, state as HostState]));

/** The report summary as a row of the "reports" table, in this order. */
type ReportRow = [string | null, ReportSummary['processState'], ReportSummary['health'], ReportSummary['installPhase'], number, string | null, number?];

/** Failure reasons kept when a state has to shed detail to fit. */
const SHED_REASON_CHARS = 120;

export interface EncodeOptions {
  /** @default STATE_VALUE_LIMIT */
  limit?: number;
  /** @default PLAIN_UP_TO */
  plainUpTo?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MARKER = encoder.encode(DEFLATE_MARKER);

/**
 * The state as one KV value. When it does not fit in `limit` even deflated, the per-host detail
 * that only words are made of (the error text of each host's last report, long failure reasons)
 * is shortened; when it still does not fit, ValidationError names the sizes.
 */
export function encodeRolloutState(state: RolloutState, opts: EncodeOptions = {}): Uint8Array {
  const limit = opts.limit ?? STATE_VALUE_LIMIT;
  const plainUpTo = opts.plainUpTo ?? PLAIN_UP_TO;
  let bytes = pack(JSON.stringify(document(state, false)), plainUpTo);
  if (bytes.length > limit) bytes = pack(JSON.stringify(document(state, true)), plainUpTo);
  if (bytes.length > limit) {
    throw new ValidationError(
      `rollout ${state.id} of ${state.hostCount} hosts does not fit in one KV value: ${bytes.length} bytes encoded, ` +
        `the limit is ${limit} (NATS's default max_payload); roll out to fewer hosts at a time (a narrower --selector)`,
      { details: { rolloutId: state.id, hosts: state.hostCount, bytes: bytes.length, limit } },
    );
  }
  return bytes;
}

/**
 * The codec of the `flotilla_rollouts` states for a KvBucket: the same calls and errors as the
 * JSON buckets, plus a ValidationError for a state too large for one value.
 */
export function rolloutStateCodec(): ValueCodec<RolloutState> {
  return { encode: (state) => encodeRolloutState(state), decode: decodeRolloutState };
}

/** A stored state back, from this format or the first one; InternalError naming `key` if malformed. */
export function decodeRolloutState(bytes: Uint8Array, key: string): RolloutState {
  let text: string;
  if (startsWith(bytes, MARKER)) {
    try {
      text = decoder.decode(inflateRawSync(bytes.subarray(MARKER.length)));
    } catch (err) {
      throw new InternalError(`value of "${key}" is not a readable rollout state (deflate: ${(err as Error).message})`, { cause: err });
    }
  } else {
    text = decoder.decode(bytes);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InternalError(`value of "${key}" is not JSON`, { cause: err });
  }
  const format = typeof raw === 'object' && raw !== null ? (raw as { format?: unknown }).format : undefined;
  if (format === STATE_FORMAT) return fromDocument(raw, key);
  if (format !== undefined) {
    // A newer controller's state: say so rather than misread it as the first format.
    throw new InternalError(`value of "${key}" is a rollout state of format ${JSON.stringify(format)}; this controller reads formats 1 and ${STATE_FORMAT}`);
  }
  return fromFirstFormat(raw, key);
}

function pack(json: string, plainUpTo: number): Uint8Array {
  const plain = encoder.encode(json);
  if (plain.length <= plainUpTo) return plain;
  // Level 1: the columns are repetitive enough that more effort buys little and costs time
  // on every write of a large rollout.
  const packed = deflateRawSync(plain, { level: 1 });
  const out = new Uint8Array(MARKER.length + packed.length);
  out.set(MARKER, 0);
  out.set(packed, MARKER.length);
  return out;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

// ---- writing --------------------------------------------------------------------------------

interface HostColumns {
  count: number;
  state: string;
  flags: string;
  failureReason: string;
  reasons: string[];
  lastReport: string;
  reports: ReportRow[];
  [time: string]: unknown;
}

function document(state: RolloutState, shed: boolean): Record<string, unknown> {
  const table = hostTableOf(state);
  const n = table.size;
  const letters: string[] = new Array<string>(n);
  const flags: string[] = new Array<string>(n);
  const times = TIME_COLUMNS.map(() => new Array<string>(n));
  const last = TIME_COLUMNS.map(() => state.createdAtMs);
  const reasons = new Dictionary<string>();
  const reasonCol: string[] = new Array<string>(n);
  const reports = new Dictionary<ReportRow>();
  const withError = !shed;
  const reportCol: string[] = new Array<string>(n);
  table.forEach((h, i) => {
    letters[i] = STATE_LETTERS[h.state];
    flags[i] = FLAG_DIGITS[(h.down ? 1 : 0) + (h.removed ? 2 : 0)] as string;
    for (let c = 0; c < TIME_COLUMNS.length; c++) {
      const v = h[TIME_COLUMNS[c] as TimeColumn];
      if (v === null) {
        (times[c] as string[])[i] = '';
      } else {
        // Times are whole milliseconds of the controller's clock; anything else would not come back.
        if (!Number.isSafeInteger(v)) throw new InternalError(`rollout ${state.id}: ${h.hostId}'s ${TIME_COLUMNS[c]} is ${v}, not a time`);
        (times[c] as string[])[i] = (v - (last[c] as number)).toString(36);
        last[c] = v;
      }
    }
    const reason = h.failureReason === null ? null : shed ? shorten(h.failureReason) : h.failureReason;
    reasonCol[i] = reason === null ? '' : reasons.index(reason, reason).toString(36);
    const r = h.lastReport;
    reportCol[i] = r === null ? '' : reports.index(reportRow(r, withError), reportKey(r, withError)).toString(36);
  });
  const hosts: HostColumns = {
    count: n,
    state: letters.join(''),
    flags: flags.join(''),
    failureReason: reasonCol.join(','),
    reasons: reasons.values,
    lastReport: reportCol.join(','),
    reports: reports.values,
  };
  TIME_COLUMNS.forEach((name, c) => {
    hosts[name] = (times[c] as string[]).join(',');
  });
  return { format: STATE_FORMAT, ...fieldsOf(state), hosts };
}

const FLAG_DIGITS = ['0', '1', '2', '3'];

function reportRow(r: ReportSummary, withError: boolean): ReportRow {
  const row: ReportRow = [r.activeVersion, r.processState, r.health, r.installPhase, r.restarts, withError ? r.error : null];
  // A seventh column only for apps served from two slots: older rows (and states) read as before.
  if (r.trafficWeight !== undefined) row.push(r.trafficWeight);
  return row;
}

/*
 * A report summary's identity in the "reports" table. Summaries are kept from state to state
 * until the host reports something else, so the key is made once per summary, not per write.
 */
const reportKeys = new WeakMap<ReportSummary, string>();

function reportKey(r: ReportSummary, withError: boolean): string {
  if (!withError) return JSON.stringify(reportRow(r, false));
  let key = reportKeys.get(r);
  if (key === undefined) {
    key = JSON.stringify(reportRow(r, true));
    reportKeys.set(r, key);
  }
  return key;
}

function shorten(text: string): string {
  return text.length <= SHED_REASON_CHARS ? text : `${text.slice(0, SHED_REASON_CHARS - 1)}…`;
}

/** Values numbered in order of first use; values of one key share a number. */
class Dictionary<T> {
  readonly values: T[] = [];
  private readonly numbers = new Map<string, number>();

  index(value: T, key: string): number {
    let n = this.numbers.get(key);
    if (n === undefined) {
      n = this.values.length;
      this.values.push(value);
      this.numbers.set(key, n);
    }
    return n;
  }
}

// ---- reading --------------------------------------------------------------------------------

const count = z.number().int().nonnegative();
const reportRowSchema = z.tuple(
  [z.string().nullable(), z.string(), z.string(), z.string(), count, z.string().nullable()],
  z.number().int().min(0).max(100),
);
const columnsSchema = z
  .object({
    count,
    state: z.string(),
    flags: z.string(),
    failureReason: z.string(),
    reasons: z.array(z.string()),
    lastReport: z.string(),
    reports: z.array(reportRowSchema),
    ...Object.fromEntries(TIME_COLUMNS.map((c) => [c, z.string()])),
  })
  .loose();
const documentSchema = rolloutSchemas.rollout.extend({ format: z.literal(STATE_FORMAT), hosts: columnsSchema });

function fromDocument(raw: unknown, key: string): RolloutState {
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) throw malformed(key, parsed.error);
  const doc = parsed.data as unknown as RolloutFields & { hosts: HostColumns & Record<TimeColumn, string> };
  const cols = doc.hosts;
  const n = cols.count;
  const bad = (what: string) => new InternalError(`value of "${key}" is malformed (hosts.${what})`);
  const ids: { hostId: string; step: number }[] = [];
  for (const step of doc.steps) for (const hostId of step.hostIds) ids.push({ hostId, step: step.index });
  if (ids.length !== n) throw bad(`count: ${n} hosts, the steps name ${ids.length}`);
  if (cols.state.length !== n) throw bad('state');
  if (cols.flags.length !== n) throw bad('flags');
  const times = TIME_COLUMNS.map((c) => timeColumn(cols[c], n, doc.createdAtMs, () => bad(c)));
  const reasons = indexColumn(cols.failureReason, n, cols.reasons.length, () => bad('failureReason'));
  const reports = indexColumn(cols.lastReport, n, cols.reports.length, () => bad('lastReport'));
  const hosts: HostProgress[] = new Array<HostProgress>(n);
  for (let i = 0; i < n; i++) {
    const state = LETTER_STATES.get(cols.state[i] as string);
    const flag = Number(cols.flags[i]);
    if (state === undefined) throw bad(`state: unknown letter "${cols.state[i]}"`);
    if (!(flag >= 0 && flag <= 3)) throw bad(`flags: "${cols.flags[i]}"`);
    const t = (c: number) => (times[c] as (number | null)[])[i] as number | null;
    const reason = reasons[i] as number | null;
    const report = reports[i] as number | null;
    const row = report === null ? null : (cols.reports[report] as ReportRow);
    const { hostId, step } = ids[i] as { hostId: string; step: number };
    hosts[i] = {
      hostId,
      step,
      state,
      assignedAtMs: t(0),
      assignSentAtMs: t(1),
      assignAckedAtMs: t(2),
      healthySinceMs: t(3),
      unhealthySinceMs: t(4),
      passedAtMs: t(5),
      failedAtMs: t(6),
      failureReason: reason === null ? null : (cols.reasons[reason] as string),
      revertSentAtMs: t(7),
      revertedAtMs: t(8),
      down: (flag & 1) !== 0,
      removed: (flag & 2) !== 0,
      lastReport:
        row === null
          ? null
          : {
              activeVersion: row[0],
              processState: row[1],
              health: row[2],
              installPhase: row[3],
              restarts: row[4],
              error: row[5],
              ...(row[6] !== undefined ? { trafficWeight: row[6] } : {}),
            },
    };
  }
  return stateOf(fieldsOf(doc as unknown as RolloutState), HostTable.of(hosts));
}

function timeColumn(text: string, n: number, start: number, bad: () => Error): (number | null)[] {
  const tokens = n === 0 ? [] : text.split(',');
  if (tokens.length !== n) throw bad();
  let last = start;
  return tokens.map((token) => {
    if (token === '') return null;
    const delta = parseInt(token, 36);
    if (!Number.isSafeInteger(delta) || !/^-?[0-9a-z]+$/.test(token)) throw bad();
    last += delta;
    return last;
  });
}

function indexColumn(text: string, n: number, size: number, bad: () => Error): (number | null)[] {
  const tokens = n === 0 ? [] : text.split(',');
  if (tokens.length !== n) throw bad();
  return tokens.map((token) => {
    if (token === '') return null;
    const i = parseInt(token, 36);
    if (!(i >= 0 && i < size)) throw bad();
    return i;
  });
}

/** A state a controller of the first format wrote: the state's own JSON. */
function fromFirstFormat(raw: unknown, key: string): RolloutState {
  const parsed = rolloutSchemas.rollout.safeParse(raw);
  if (!parsed.success) throw malformed(key, parsed.error);
  const old = parsed.data as unknown as Omit<RolloutState, 'logDropped'> & { logDropped?: number };
  // Written before logs were bounded: nothing was dropped.
  return stateOf({ ...fieldsOf(old as RolloutState), logDropped: old.logDropped ?? 0 }, HostTable.of(old.hosts));
}

function malformed(key: string, error: z.ZodError): InternalError {
  const issue = error.issues[0];
  return new InternalError(
    `value of "${key}" is malformed (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'unknown problem'})`,
  );
}
