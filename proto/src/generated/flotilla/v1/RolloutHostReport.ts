// Original file: flotilla.proto


export interface RolloutHostReport {
  'active_version'?: (string);
  'process_state'?: (string);
  'health'?: (string);
  'install_phase'?: (string);
  'restarts'?: (number);
  'error'?: (string);
  'traffic_weight'?: (string);
}

export interface RolloutHostReport__Output {
  'active_version': (string);
  'process_state': (string);
  'health': (string);
  'install_phase': (string);
  'restarts': (number);
  'error': (string);
  'traffic_weight': (string);
}
