export { Controller, type ControllerAddresses, type ControllerDeps, type ControllerState } from './controller.js';
export {
  CONTROLLER_ENV,
  DEFAULT_GRPC_LISTEN,
  DEFAULT_HTTP_LISTEN,
  DEFAULT_NATS_SERVER,
  controllerConfigSchema,
  dialableAddress,
  loadControllerConfig,
  loadControllerKeys,
  parseListenAddress,
  type ControllerConfig,
  type ControllerConfigInput,
  type ControllerKeys,
  type ListenAddress,
} from './config.js';
export { FlagsExitRequest, flagOverrides, parseControllerFlags, type ControllerFlags } from './flags.js';
export {
  AssignmentWriter,
  buildAssignment,
  type AppsMutation,
  type AssignResult,
  type AssignedApps,
  type AssignmentPublisher,
  type AssignmentWriterOptions,
  type BuildAssignmentInput,
} from './assignments.js';
export {
  HostRegistry,
  type HostEvent,
  type HostListener,
  type HostRegistryOptions,
  type HostView,
  type LiveHostView,
} from './hosts.js';
export { LivenessDeadlines, downDeadlineMs, isSilentTooLong, type DueHost, type LivenessInput } from './liveness.js';
export { ArtifactStore, UploadSession, type ArtifactStoreOptions, type OpenArtifact, type UploadResult } from './artifacts.js';
export { readReleaseManifest, MAX_MANIFEST_BYTES } from './release-manifest.js';
export { JsonBucket, KvBucket, jsonCodec, isRevisionConflict, type ValueCodec, type Entry, type Mutation, type RecordBucket, type UpdateOptions } from './store/kv.js';
export { ShardedBucket, drainLegacyBucket, shardIndex, type LegacyDrain } from './store/sharded.js';
export { openControllerStore, type ControllerStore, type OpenStoreOptions } from './store/store.js';
export {
  ASSIGNMENT_SHARDS,
  BUCKETS,
  BUCKET_HISTORY,
  ROLLOUTS_BUCKET_HISTORY,
  artifactKey,
  recordSchemas,
  type AppRecord,
  type ArtifactRecord,
  type BadVersionRecord,
  type AssignmentRecord,
  type HostRecord,
  type HostState,
} from './store/records.js';
export { fromServiceError,
  statusFor,
  toServiceError,
} from './grpc/errors.js';
export { bearerTokenCheck, withAuth, type AuthCheck } from './grpc/auth.js';
export { GRPC_MAX_MESSAGE_BYTES, GRPC_SERVER_OPTIONS } from './grpc/server.js';
export { HttpServer, sendJson, type HttpMethod, type RouteHandler } from './http.js';
export { ControllerMetrics } from './metrics.js';
export { KeyedMutex, mapConcurrent, mapConcurrentSettled } from './concurrency.js';
export { writeReadyFile, type ReadyInfo } from './ready-file.js';
export { connectNats, type NatsLink, type NatsState } from './nats.js';
export { natsAssignmentPublisher, subscribeControlSubjects, SYNC_QUEUE_GROUP, type ControlSubjectsDeps } from './subscriptions.js';
export * from './engine/index.js';
export * from './rollouts/index.js';
export * from './apps/index.js';
export * from './reverts/index.js';
export { DEPLOY_STRATEGY } from './grpc/control-service.js';
export * from './alarms/index.js';
export { connectHostFacing } from './host-link.js';
export {
  CONTROLLER_HOSTS_NATS_USER,
  CONTROLLER_NATS_USER,
  controllerPermissions,
  hostFacingPermissions,
  hostPermissions,
  natsAuthorizationBlock,
  natsUserBlock,
  parseHostList,
  type NatsAuthInput,
  type NatsPermissions,
} from './nats-auth-config.js';
