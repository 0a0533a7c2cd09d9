// Original file: flotilla.proto


export interface RolloutCounters {
  'hosts'?: (number);
  'pending'?: (number);
  'in_progress'?: (number);
  'passed'?: (number);
  'failed'?: (number);
  'skipped'?: (number);
  'reverting'?: (number);
  'reverted'?: (number);
}

export interface RolloutCounters__Output {
  'hosts': (number);
  'pending': (number);
  'in_progress': (number);
  'passed': (number);
  'failed': (number);
  'skipped': (number);
  'reverting': (number);
  'reverted': (number);
}
