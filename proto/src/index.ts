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
export type * from './generated/flotilla/v1/AppEvent.js';
export type * from './generated/flotilla/v1/AppInfo.js';
export type * from './generated/flotilla/v1/AppStatus.js';
export type * from './generated/flotilla/v1/ArtifactInfo.js';
export type * from './generated/flotilla/v1/Artifacts.js';
export type * from './generated/flotilla/v1/Control.js';
export type * from './generated/flotilla/v1/DeployRequest.js';
export type * from './generated/flotilla/v1/DeployResponse.js';
export type * from './generated/flotilla/v1/DownloadChunk.js';
export type * from './generated/flotilla/v1/DownloadRequest.js';
export type * from './generated/flotilla/v1/GetHistoryRequest.js';
export type * from './generated/flotilla/v1/GetHistoryResponse.js';
export type * from './generated/flotilla/v1/GetRolloutRequest.js';
export type * from './generated/flotilla/v1/GetRolloutResponse.js';
export type * from './generated/flotilla/v1/GetStatusRequest.js';
export type * from './generated/flotilla/v1/GetStatusResponse.js';
export type * from './generated/flotilla/v1/ClusterInfo.js';
export type * from './generated/flotilla/v1/ControllerInfo.js';
export type * from './generated/flotilla/v1/HostAssignment.js';
export type * from './generated/flotilla/v1/HostInfo.js';
export type * from './generated/flotilla/v1/Inventory.js';
export type * from './generated/flotilla/v1/ListArtifactsRequest.js';
export type * from './generated/flotilla/v1/ListArtifactsResponse.js';
export type * from './generated/flotilla/v1/ListEventsRequest.js';
export type * from './generated/flotilla/v1/ListEventsResponse.js';
export type * from './generated/flotilla/v1/CollectArtifactsRequest.js';
export type * from './generated/flotilla/v1/CollectArtifactsResponse.js';
export type * from './generated/flotilla/v1/KeptArtifact.js';
export type * from './generated/flotilla/v1/RemoveArtifactRequest.js';
export type * from './generated/flotilla/v1/RemoveArtifactResponse.js';
export type * from './generated/flotilla/v1/ListHostsRequest.js';
export type * from './generated/flotilla/v1/ListHostsResponse.js';
export type * from './generated/flotilla/v1/ListRolloutsRequest.js';
export type * from './generated/flotilla/v1/ListRolloutsResponse.js';
export type * from './generated/flotilla/v1/Load.js';
export type * from './generated/flotilla/v1/Revert.js';
export type * from './generated/flotilla/v1/RollbackRequest.js';
export type * from './generated/flotilla/v1/RollbackResponse.js';
export type * from './generated/flotilla/v1/Rollout.js';
export type * from './generated/flotilla/v1/RolloutCommandRequest.js';
export type * from './generated/flotilla/v1/RolloutCommandResponse.js';
export type * from './generated/flotilla/v1/RolloutCounters.js';
export type * from './generated/flotilla/v1/RolloutHost.js';
export type * from './generated/flotilla/v1/RolloutHostReport.js';
export type * from './generated/flotilla/v1/RolloutLogEntry.js';
export type * from './generated/flotilla/v1/RolloutStep.js';
export type * from './generated/flotilla/v1/RolloutStrategy.js';
export type * from './generated/flotilla/v1/RolloutSummary.js';
export type * from './generated/flotilla/v1/SignedDescriptor.js';
export type * from './generated/flotilla/v1/StablePeriod.js';
export type * from './generated/flotilla/v1/StartRolloutRequest.js';
export type * from './generated/flotilla/v1/StartRolloutResponse.js';
export type * from './generated/flotilla/v1/UploadRequest.js';
export type * from './generated/flotilla/v1/UploadResponse.js';
export type * from './generated/flotilla/v1/VersionHistory.js';
export type * from './generated/flotilla/v1/WatchRolloutRequest.js';
export type * from './generated/flotilla/v1/WhoamiRequest.js';
export type * from './generated/flotilla/v1/WhoamiResponse.js';
export type * from './generated/flotilla/v1/RoleGrant.js';
export type * from './generated/flotilla/v1/RevokeHostRequest.js';
export type * from './generated/flotilla/v1/RevokeHostResponse.js';
