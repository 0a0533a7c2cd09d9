// Original file: flotilla.proto

import type { RoleGrant as _flotilla_v1_RoleGrant, RoleGrant__Output as _flotilla_v1_RoleGrant__Output } from '../../flotilla/v1/RoleGrant.js';

export interface WhoamiResponse {
  'kind'?: (string);
  'name'?: (string);
  'via'?: (string);
  'roles'?: (_flotilla_v1_RoleGrant)[];
}

export interface WhoamiResponse__Output {
  'kind': (string);
  'name': (string);
  'via': (string);
  'roles': (_flotilla_v1_RoleGrant__Output)[];
}
