// Original file: flotilla.proto

import type { KeptArtifact as _flotilla_v1_KeptArtifact, KeptArtifact__Output as _flotilla_v1_KeptArtifact__Output } from '../../flotilla/v1/KeptArtifact.js';
import type { ArtifactInfo as _flotilla_v1_ArtifactInfo, ArtifactInfo__Output as _flotilla_v1_ArtifactInfo__Output } from '../../flotilla/v1/ArtifactInfo.js';
import type { Long } from '@grpc/proto-loader';

export interface CollectArtifactsResponse {
  'dry_run'?: (boolean);
  'keep_versions'?: (number);
  'kept'?: (_flotilla_v1_KeptArtifact)[];
  'removed'?: (_flotilla_v1_ArtifactInfo)[];
  'freed_bytes'?: (number | string | Long);
}

export interface CollectArtifactsResponse__Output {
  'dry_run': (boolean);
  'keep_versions': (number);
  'kept': (_flotilla_v1_KeptArtifact__Output)[];
  'removed': (_flotilla_v1_ArtifactInfo__Output)[];
  'freed_bytes': (string);
}
