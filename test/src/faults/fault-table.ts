/** One try of one fault, reduced to what the table counts. */
export interface FaultOutcome {
  /** The table's row: the fault and where it struck. */
  readonly fault: string;
  /** Each a plain sentence; empty when the try survived. */
  readonly problems: readonly string[];
  readonly stranded: number;
  readonly duplicates: number;
  readonly lostAcks: number;
  readonly lostEvents: number;
}

const COLUMNS = ['TRIES', 'SURVIVED', 'FAILED', 'STRANDED', 'DUPLICATES', 'LOST-ACKS', 'LOST-EVENTS'] as const;

/** The table `npm run faults` prints: a row per fault, in the order first tried, and a total. */
export function formatFaultTable(outcomes: readonly FaultOutcome[]): string {
  const rows = new Map<string, number[]>();
  for (const o of outcomes) {
    const row = rows.get(o.fault) ?? [0, 0, 0, 0, 0, 0, 0];
    const failed = o.problems.length > 0 ? 1 : 0;
    const add = [1, 1 - failed, failed, o.stranded, o.duplicates, o.lostAcks, o.lostEvents];
    rows.set(o.fault, row.map((n, i) => n + (add[i] as number)));
  }
  const total = [...rows.values()].reduce((sum, r) => sum.map((n, i) => n + (r[i] as number)), [0, 0, 0, 0, 0, 0, 0]);
  const width = Math.max(5, ...[...rows.keys()].map((k) => k.length)) + 2;
  const line = (name: string, cells: readonly (string | number)[]) =>
    name.padEnd(width) + cells.map((c, i) => String(c).padStart((COLUMNS[i] as string).length + 1)).join('');
  return [line('FAULT', COLUMNS), ...[...rows].map(([name, r]) => line(name, r)), line('total', total)].join('\n') + '\n';
}

/** The failed tries, one line each, for under the table. */
export function formatFailures(outcomes: readonly FaultOutcome[]): string {
  return outcomes
    .filter((o) => o.problems.length > 0)
    .map((o) => `  ${o.fault}: ${o.problems.join('; ')}\n`)
    .join('');
}
