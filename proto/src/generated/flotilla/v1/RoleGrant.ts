// Original file: flotilla.proto


export interface RoleGrant {
  'role'?: (string);
  'apps'?: (string)[];
  'selector'?: (string);
}

export interface RoleGrant__Output {
  'role': (string);
  'apps': (string)[];
  'selector': (string);
}
