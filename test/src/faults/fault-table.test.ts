import { describe, expect, it } from 'vitest';
import { formatFaultTable } from './fault-table.js';

const ok = { problems: [], stranded: 0, duplicates: 0, lostAcks: 0, lostEvents: 0 };

describe('the fault table', () => {
  it('counts tries, survivals, failures and each loss by fault, with a total', () => {
    const table = formatFaultTable([
      { fault: 'agent kill', ...ok },
      { fault: 'agent kill', ...ok, problems: ['host-1 runs 2 processes'], duplicates: 1 },
      { fault: 'partition', ...ok, problems: ['a host does not hold its assignment'], lostAcks: 1, stranded: 1 },
    ]);
    expect(table.split('\n').map((l) => l.trim().split(/\s{2,}|\s(?=\d)/))).toEqual([
      ['FAULT', 'TRIES SURVIVED FAILED STRANDED DUPLICATES LOST-ACKS LOST-EVENTS'],
      ['agent kill', '2', '1', '1', '0', '1', '0', '0'],
      ['partition', '1', '0', '1', '1', '0', '1', '0'],
      ['total', '3', '1', '2', '1', '1', '1', '0'],
      [''],
    ]);
  });
});
