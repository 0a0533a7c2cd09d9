// Original file: flotilla.proto


export interface SignedDescriptor {
  'descriptor_json'?: (string);
  'key_id'?: (string);
  'signature'?: (string);
}

export interface SignedDescriptor__Output {
  'descriptor_json': (string);
  'key_id': (string);
  'signature': (string);
}
