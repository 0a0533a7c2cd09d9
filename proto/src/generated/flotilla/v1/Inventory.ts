// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface Inventory {
  'hostname'?: (string);
  'os'?: (string);
  'arch'?: (string);
  'kernel'?: (string);
  'cpus'?: (number);
  'mem_total_bytes'?: (number | string | Long);
  'agent_version'?: (string);
}

export interface Inventory__Output {
  'hostname': (string);
  'os': (string);
  'arch': (string);
  'kernel': (string);
  'cpus': (number);
  'mem_total_bytes': (string);
  'agent_version': (string);
}
