// Original file: flotilla.proto

import type { HostInfo as _flotilla_v1_HostInfo, HostInfo__Output as _flotilla_v1_HostInfo__Output } from '../../flotilla/v1/HostInfo.js';
import type { AppInfo as _flotilla_v1_AppInfo, AppInfo__Output as _flotilla_v1_AppInfo__Output } from '../../flotilla/v1/AppInfo.js';
import type { ClusterInfo as _flotilla_v1_ClusterInfo, ClusterInfo__Output as _flotilla_v1_ClusterInfo__Output } from '../../flotilla/v1/ClusterInfo.js';

export interface GetStatusResponse {
  'hosts'?: (_flotilla_v1_HostInfo)[];
  'apps'?: (_flotilla_v1_AppInfo)[];
  'cluster'?: (_flotilla_v1_ClusterInfo | null);
}

export interface GetStatusResponse__Output {
  'hosts': (_flotilla_v1_HostInfo__Output)[];
  'apps': (_flotilla_v1_AppInfo__Output)[];
  'cluster': (_flotilla_v1_ClusterInfo__Output | null);
}
