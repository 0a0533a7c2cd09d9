// Original file: flotilla.proto

import type { HostInfo as _flotilla_v1_HostInfo, HostInfo__Output as _flotilla_v1_HostInfo__Output } from '../../flotilla/v1/HostInfo.js';

export interface ListHostsResponse {
  'hosts'?: (_flotilla_v1_HostInfo)[];
}

export interface ListHostsResponse__Output {
  'hosts': (_flotilla_v1_HostInfo__Output)[];
}
