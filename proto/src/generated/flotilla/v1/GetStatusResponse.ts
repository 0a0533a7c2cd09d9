// Original file: flotilla.proto

import type { HostInfo as _flotilla_v1_HostInfo, HostInfo__Output as _flotilla_v1_HostInfo__Output } from '../../flotilla/v1/HostInfo.js';
import type { AppInfo as _flotilla_v1_AppInfo, AppInfo__Output as _flotilla_v1_AppInfo__Output } from '../../flotilla/v1/AppInfo.js';

export interface GetStatusResponse {
  'hosts'?: (_flotilla_v1_HostInfo)[];
  'apps'?: (_flotilla_v1_AppInfo)[];
}

export interface GetStatusResponse__Output {
  'hosts': (_flotilla_v1_HostInfo__Output)[];
  'apps': (_flotilla_v1_AppInfo__Output)[];
}
