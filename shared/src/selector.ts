import { ValidationError } from './errors.js';
import { LABEL_KEY, LABEL_VALUE } from './names.js';

export type Labels = Readonly<Record<string, string>>;

/** One term of a label selector. */
export type SelectorTerm =
  | { op: 'eq'; key: string; value: string }
  | { op: 'ne'; key: string; value: string }
  | { op: 'exists'; key: string }
  | { op: 'absent'; key: string };

/**
 * Parses a label selector: comma-separated terms `key=value`, `key!=value`, `key` (has the label)
 * and `!key` (lacks it). All terms must hold. The empty selector selects everything.
 */
export function parseSelector(input: string): SelectorTerm[] {
  const text = input.trim();
  if (text === '') return [];
  return text.split(',').map((raw) => {
    const term = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([^=!]+)!=(.*)$/.exec(term))) return checked({ op: 'ne', key: m[1]!.trim(), value: m[2]!.trim() }, input);
    if ((m = /^([^=!]+)==?(.*)$/.exec(term))) return checked({ op: 'eq', key: m[1]!.trim(), value: m[2]!.trim() }, input);
    if ((m = /^!([^=!]+)$/.exec(term))) return checked({ op: 'absent', key: m[1]!.trim() }, input);
    if (/^[^=!]+$/.test(term)) return checked({ op: 'exists', key: term }, input);
    throw new ValidationError(`selector "${input}": cannot read term "${term}" (use key=value, key!=value, key or !key)`);
  });
}

function checked(term: SelectorTerm, input: string): SelectorTerm {
  if (!LABEL_KEY.test(term.key)) {
    throw new ValidationError(`selector "${input}": "${term.key}" is not a valid label key`);
  }
  if ((term.op === 'eq' || term.op === 'ne') && !LABEL_VALUE.test(term.value)) {
    throw new ValidationError(`selector "${input}": "${term.value}" is not a valid label value`);
  }
  return term;
}

export function matchesSelector(labels: Labels, terms: readonly SelectorTerm[]): boolean {
  return terms.every((t) => {
    const has = Object.prototype.hasOwnProperty.call(labels, t.key);
    switch (t.op) {
      case 'eq':
        return has && labels[t.key] === t.value;
      case 'ne':
        return !has || labels[t.key] !== t.value;
      case 'exists':
        return has;
      case 'absent':
        return !has;
    }
  });
}

/** Parses `key=value` label assignments (as given with repeated --label flags). */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    for (const part of pair.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new ValidationError(`label "${part}" is not key=value`);
      const key = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (!LABEL_KEY.test(key)) throw new ValidationError(`label key "${key}" is invalid`);
      if (!LABEL_VALUE.test(value)) throw new ValidationError(`label value "${value}" for "${key}" is invalid`);
      labels[key] = value;
    }
  }
  return labels;
}
