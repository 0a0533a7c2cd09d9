import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/flotilla.js';

/** Absolute path of flotilla.proto, shipped beside this package's dist/. */
export const PROTO_PATH = fileURLToPath(new URL('../flotilla.proto', import.meta.url));

/**
 * The one set of loader options every load of the proto uses. They must match the flags of
 * `proto-loader-gen-types` in package.json, or the generated types lie about the runtime shapes.
 */
export const LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

let cached: ProtoGrpcType['flotilla']['v1'] | undefined;

/** Loads flotilla.proto once per process and returns the `flotilla.v1` namespace. */
export function loadFlotillaProto(): ProtoGrpcType['flotilla']['v1'] {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
    const loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    cached = loaded.flotilla.v1;
  }
  return cached;
}

export type { ProtoGrpcType } from './generated/flotilla.js';
export type * from './generated/flotilla/v1/AppInfo.js';
export type * from './generated/flotilla/v1/AppStatus.js';
export type * from './generated/flotilla/v1/ArtifactInfo.js';
export type * from './generated/flotilla/v1/Artifacts.js';
export type * from './generated/flotilla/v1/Control.js';
export type * from './generated/flotilla/v1/DeployRequest.js';
export type * from './generated/flotilla/v1/DeployResponse.js';
export type * from './generated/flotilla/v1/DownloadChunk.js';
export type * from './generated/flotilla/v1/DownloadRequest.js';
export type * from './generated/flotilla/v1/GetStatusRequest.js';
export type * from './generated/flotilla/v1/GetStatusResponse.js';
export type * from './generated/flotilla/v1/HostAssignment.js';
export type * from './generated/flotilla/v1/HostInfo.js';
export type * from './generated/flotilla/v1/Inventory.js';
export type * from './generated/flotilla/v1/ListArtifactsRequest.js';
export type * from './generated/flotilla/v1/ListArtifactsResponse.js';
export type * from './generated/flotilla/v1/ListHostsRequest.js';
export type * from './generated/flotilla/v1/ListHostsResponse.js';
export type * from './generated/flotilla/v1/Load.js';
export type * from './generated/flotilla/v1/SignedDescriptor.js';
export type * from './generated/flotilla/v1/UploadRequest.js';
export type * from './generated/flotilla/v1/UploadResponse.js';
