// Original file: flotilla.proto

import type { SignedDescriptor as _flotilla_v1_SignedDescriptor, SignedDescriptor__Output as _flotilla_v1_SignedDescriptor__Output } from '../../flotilla/v1/SignedDescriptor.js';

export interface UploadRequest {
  'header'?: (_flotilla_v1_SignedDescriptor | null);
  'chunk'?: (Buffer | Uint8Array | string);
  'payload'?: "header"|"chunk";
}

export interface UploadRequest__Output {
  'header'?: (_flotilla_v1_SignedDescriptor__Output | null);
  'chunk'?: (Buffer);
  'payload'?: "header"|"chunk";
}
