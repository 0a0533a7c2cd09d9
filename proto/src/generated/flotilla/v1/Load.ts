// Original file: flotilla.proto

import type { Long } from '@grpc/proto-loader';

export interface Load {
  'cpu_percent'?: (number | string);
  'mem_used_bytes'?: (number | string | Long);
  'mem_total_bytes'?: (number | string | Long);
  'disk_free_bytes'?: (number | string | Long);
}

export interface Load__Output {
  'cpu_percent': (number);
  'mem_used_bytes': (string);
  'mem_total_bytes': (string);
  'disk_free_bytes': (string);
}
