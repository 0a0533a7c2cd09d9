// Original file: flotilla.proto

import type { Inventory as _flotilla_v1_Inventory, Inventory__Output as _flotilla_v1_Inventory__Output } from '../../flotilla/v1/Inventory.js';
import type { Load as _flotilla_v1_Load, Load__Output as _flotilla_v1_Load__Output } from '../../flotilla/v1/Load.js';
import type { AppStatus as _flotilla_v1_AppStatus, AppStatus__Output as _flotilla_v1_AppStatus__Output } from '../../flotilla/v1/AppStatus.js';
import type { Long } from '@grpc/proto-loader';

export interface HostInfo {
  'host_id'?: (string);
  'labels'?: ({[key: string]: string});
  'state'?: (string);
  'first_seen_ms'?: (number | string | Long);
  'last_seen_ms'?: (number | string | Long);
  'inventory'?: (_flotilla_v1_Inventory | null);
  'load'?: (_flotilla_v1_Load | null);
  'assignment_seq'?: (number | string | Long);
  'accepted_seq'?: (number | string | Long);
  'apps'?: (_flotilla_v1_AppStatus)[];
  'heartbeat_interval_ms'?: (number | string | Long);
  'key_epoch'?: (number);
  'controller_key_epoch'?: (number);
  'stale'?: (boolean);
  'trust_error'?: (string);
  'refused_labels'?: ({[key: string]: string});
}

export interface HostInfo__Output {
  'host_id': (string);
  'labels': ({[key: string]: string});
  'state': (string);
  'first_seen_ms': (string);
  'last_seen_ms': (string);
  'inventory': (_flotilla_v1_Inventory__Output | null);
  'load': (_flotilla_v1_Load__Output | null);
  'assignment_seq': (string);
  'accepted_seq': (string);
  'apps': (_flotilla_v1_AppStatus__Output)[];
  'heartbeat_interval_ms': (string);
  'key_epoch': (number);
  'controller_key_epoch': (number);
  'stale': (boolean);
  'trust_error': (string);
  'refused_labels': ({[key: string]: string});
}
