// Original file: flotilla.proto


export interface DeployRequest {
  'app'?: (string);
  'version'?: (string);
  'selector'?: (string);
  'healthy_deadline'?: (string);
  'actor'?: (string);
  'force'?: (boolean);
}

export interface DeployRequest__Output {
  'app': (string);
  'version': (string);
  'selector': (string);
  'healthy_deadline': (string);
  'actor': (string);
  'force': (boolean);
}
