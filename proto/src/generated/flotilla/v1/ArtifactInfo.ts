// Original file: flotilla.proto

import type { SignedDescriptor as _flotilla_v1_SignedDescriptor, SignedDescriptor__Output as _flotilla_v1_SignedDescriptor__Output } from '../../flotilla/v1/SignedDescriptor.js';
import type { Long } from '@grpc/proto-loader';

export interface ArtifactInfo {
  'app'?: (string);
  'version'?: (string);
  'sha256'?: (string);
  'size'?: (number | string | Long);
  'key_id'?: (string);
  'uploaded_at_ms'?: (number | string | Long);
  'signed'?: (_flotilla_v1_SignedDescriptor | null);
}

export interface ArtifactInfo__Output {
  'app': (string);
  'version': (string);
  'sha256': (string);
  'size': (string);
  'key_id': (string);
  'uploaded_at_ms': (string);
  'signed': (_flotilla_v1_SignedDescriptor__Output | null);
}
