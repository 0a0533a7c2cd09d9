// Original file: flotilla.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CollectArtifactsRequest as _flotilla_v1_CollectArtifactsRequest, CollectArtifactsRequest__Output as _flotilla_v1_CollectArtifactsRequest__Output } from '../../flotilla/v1/CollectArtifactsRequest.js';
import type { CollectArtifactsResponse as _flotilla_v1_CollectArtifactsResponse, CollectArtifactsResponse__Output as _flotilla_v1_CollectArtifactsResponse__Output } from '../../flotilla/v1/CollectArtifactsResponse.js';
import type { DeployRequest as _flotilla_v1_DeployRequest, DeployRequest__Output as _flotilla_v1_DeployRequest__Output } from '../../flotilla/v1/DeployRequest.js';
import type { DeployResponse as _flotilla_v1_DeployResponse, DeployResponse__Output as _flotilla_v1_DeployResponse__Output } from '../../flotilla/v1/DeployResponse.js';
import type { GetHistoryRequest as _flotilla_v1_GetHistoryRequest, GetHistoryRequest__Output as _flotilla_v1_GetHistoryRequest__Output } from '../../flotilla/v1/GetHistoryRequest.js';
import type { GetHistoryResponse as _flotilla_v1_GetHistoryResponse, GetHistoryResponse__Output as _flotilla_v1_GetHistoryResponse__Output } from '../../flotilla/v1/GetHistoryResponse.js';
import type { GetRolloutRequest as _flotilla_v1_GetRolloutRequest, GetRolloutRequest__Output as _flotilla_v1_GetRolloutRequest__Output } from '../../flotilla/v1/GetRolloutRequest.js';
import type { GetRolloutResponse as _flotilla_v1_GetRolloutResponse, GetRolloutResponse__Output as _flotilla_v1_GetRolloutResponse__Output } from '../../flotilla/v1/GetRolloutResponse.js';
import type { GetStatusRequest as _flotilla_v1_GetStatusRequest, GetStatusRequest__Output as _flotilla_v1_GetStatusRequest__Output } from '../../flotilla/v1/GetStatusRequest.js';
import type { GetStatusResponse as _flotilla_v1_GetStatusResponse, GetStatusResponse__Output as _flotilla_v1_GetStatusResponse__Output } from '../../flotilla/v1/GetStatusResponse.js';
import type { ListArtifactsRequest as _flotilla_v1_ListArtifactsRequest, ListArtifactsRequest__Output as _flotilla_v1_ListArtifactsRequest__Output } from '../../flotilla/v1/ListArtifactsRequest.js';
import type { ListArtifactsResponse as _flotilla_v1_ListArtifactsResponse, ListArtifactsResponse__Output as _flotilla_v1_ListArtifactsResponse__Output } from '../../flotilla/v1/ListArtifactsResponse.js';
import type { ListEventsRequest as _flotilla_v1_ListEventsRequest, ListEventsRequest__Output as _flotilla_v1_ListEventsRequest__Output } from '../../flotilla/v1/ListEventsRequest.js';
import type { ListEventsResponse as _flotilla_v1_ListEventsResponse, ListEventsResponse__Output as _flotilla_v1_ListEventsResponse__Output } from '../../flotilla/v1/ListEventsResponse.js';
import type { ListHostsRequest as _flotilla_v1_ListHostsRequest, ListHostsRequest__Output as _flotilla_v1_ListHostsRequest__Output } from '../../flotilla/v1/ListHostsRequest.js';
import type { ListHostsResponse as _flotilla_v1_ListHostsResponse, ListHostsResponse__Output as _flotilla_v1_ListHostsResponse__Output } from '../../flotilla/v1/ListHostsResponse.js';
import type { ListRolloutsRequest as _flotilla_v1_ListRolloutsRequest, ListRolloutsRequest__Output as _flotilla_v1_ListRolloutsRequest__Output } from '../../flotilla/v1/ListRolloutsRequest.js';
import type { ListRolloutsResponse as _flotilla_v1_ListRolloutsResponse, ListRolloutsResponse__Output as _flotilla_v1_ListRolloutsResponse__Output } from '../../flotilla/v1/ListRolloutsResponse.js';
import type { RemoveArtifactRequest as _flotilla_v1_RemoveArtifactRequest, RemoveArtifactRequest__Output as _flotilla_v1_RemoveArtifactRequest__Output } from '../../flotilla/v1/RemoveArtifactRequest.js';
import type { RemoveArtifactResponse as _flotilla_v1_RemoveArtifactResponse, RemoveArtifactResponse__Output as _flotilla_v1_RemoveArtifactResponse__Output } from '../../flotilla/v1/RemoveArtifactResponse.js';
import type { RevokeHostRequest as _flotilla_v1_RevokeHostRequest, RevokeHostRequest__Output as _flotilla_v1_RevokeHostRequest__Output } from '../../flotilla/v1/RevokeHostRequest.js';
import type { RevokeHostResponse as _flotilla_v1_RevokeHostResponse, RevokeHostResponse__Output as _flotilla_v1_RevokeHostResponse__Output } from '../../flotilla/v1/RevokeHostResponse.js';
import type { RollbackRequest as _flotilla_v1_RollbackRequest, RollbackRequest__Output as _flotilla_v1_RollbackRequest__Output } from '../../flotilla/v1/RollbackRequest.js';
import type { RollbackResponse as _flotilla_v1_RollbackResponse, RollbackResponse__Output as _flotilla_v1_RollbackResponse__Output } from '../../flotilla/v1/RollbackResponse.js';
import type { Rollout as _flotilla_v1_Rollout, Rollout__Output as _flotilla_v1_Rollout__Output } from '../../flotilla/v1/Rollout.js';
import type { RolloutCommandRequest as _flotilla_v1_RolloutCommandRequest, RolloutCommandRequest__Output as _flotilla_v1_RolloutCommandRequest__Output } from '../../flotilla/v1/RolloutCommandRequest.js';
import type { RolloutCommandResponse as _flotilla_v1_RolloutCommandResponse, RolloutCommandResponse__Output as _flotilla_v1_RolloutCommandResponse__Output } from '../../flotilla/v1/RolloutCommandResponse.js';
import type { StartRolloutRequest as _flotilla_v1_StartRolloutRequest, StartRolloutRequest__Output as _flotilla_v1_StartRolloutRequest__Output } from '../../flotilla/v1/StartRolloutRequest.js';
import type { StartRolloutResponse as _flotilla_v1_StartRolloutResponse, StartRolloutResponse__Output as _flotilla_v1_StartRolloutResponse__Output } from '../../flotilla/v1/StartRolloutResponse.js';
import type { WatchRolloutRequest as _flotilla_v1_WatchRolloutRequest, WatchRolloutRequest__Output as _flotilla_v1_WatchRolloutRequest__Output } from '../../flotilla/v1/WatchRolloutRequest.js';
import type { WhoamiRequest as _flotilla_v1_WhoamiRequest, WhoamiRequest__Output as _flotilla_v1_WhoamiRequest__Output } from '../../flotilla/v1/WhoamiRequest.js';
import type { WhoamiResponse as _flotilla_v1_WhoamiResponse, WhoamiResponse__Output as _flotilla_v1_WhoamiResponse__Output } from '../../flotilla/v1/WhoamiResponse.js';

export interface ControlClient extends grpc.Client {
  CollectArtifacts(argument: _flotilla_v1_CollectArtifactsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_CollectArtifactsResponse__Output>): grpc.ClientUnaryCall;
  CollectArtifacts(argument: _flotilla_v1_CollectArtifactsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_CollectArtifactsResponse__Output>): grpc.ClientUnaryCall;
  CollectArtifacts(argument: _flotilla_v1_CollectArtifactsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_CollectArtifactsResponse__Output>): grpc.ClientUnaryCall;
  CollectArtifacts(argument: _flotilla_v1_CollectArtifactsRequest, callback: grpc.requestCallback<_flotilla_v1_CollectArtifactsResponse__Output>): grpc.ClientUnaryCall;
  collectArtifacts(argument: _flotilla_v1_CollectArtifactsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_CollectArtifactsResponse__Output>): grpc.ClientUnaryCall;
  collectArtifacts(argument: _flotilla_v1_CollectArtifactsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_CollectArtifactsResponse__Output>): grpc.ClientUnaryCall;
  collectArtifacts(argument: _flotilla_v1_CollectArtifactsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_CollectArtifactsResponse__Output>): grpc.ClientUnaryCall;
  collectArtifacts(argument: _flotilla_v1_CollectArtifactsRequest, callback: grpc.requestCallback<_flotilla_v1_CollectArtifactsResponse__Output>): grpc.ClientUnaryCall;
  
  Deploy(argument: _flotilla_v1_DeployRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  Deploy(argument: _flotilla_v1_DeployRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  Deploy(argument: _flotilla_v1_DeployRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  Deploy(argument: _flotilla_v1_DeployRequest, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  deploy(argument: _flotilla_v1_DeployRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  deploy(argument: _flotilla_v1_DeployRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  deploy(argument: _flotilla_v1_DeployRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  deploy(argument: _flotilla_v1_DeployRequest, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  
  GetHistory(argument: _flotilla_v1_GetHistoryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetHistoryResponse__Output>): grpc.ClientUnaryCall;
  GetHistory(argument: _flotilla_v1_GetHistoryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_GetHistoryResponse__Output>): grpc.ClientUnaryCall;
  GetHistory(argument: _flotilla_v1_GetHistoryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetHistoryResponse__Output>): grpc.ClientUnaryCall;
  GetHistory(argument: _flotilla_v1_GetHistoryRequest, callback: grpc.requestCallback<_flotilla_v1_GetHistoryResponse__Output>): grpc.ClientUnaryCall;
  getHistory(argument: _flotilla_v1_GetHistoryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetHistoryResponse__Output>): grpc.ClientUnaryCall;
  getHistory(argument: _flotilla_v1_GetHistoryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_GetHistoryResponse__Output>): grpc.ClientUnaryCall;
  getHistory(argument: _flotilla_v1_GetHistoryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetHistoryResponse__Output>): grpc.ClientUnaryCall;
  getHistory(argument: _flotilla_v1_GetHistoryRequest, callback: grpc.requestCallback<_flotilla_v1_GetHistoryResponse__Output>): grpc.ClientUnaryCall;
  
  GetRollout(argument: _flotilla_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetRolloutResponse__Output>): grpc.ClientUnaryCall;
  GetRollout(argument: _flotilla_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_GetRolloutResponse__Output>): grpc.ClientUnaryCall;
  GetRollout(argument: _flotilla_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetRolloutResponse__Output>): grpc.ClientUnaryCall;
  GetRollout(argument: _flotilla_v1_GetRolloutRequest, callback: grpc.requestCallback<_flotilla_v1_GetRolloutResponse__Output>): grpc.ClientUnaryCall;
  getRollout(argument: _flotilla_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetRolloutResponse__Output>): grpc.ClientUnaryCall;
  getRollout(argument: _flotilla_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_GetRolloutResponse__Output>): grpc.ClientUnaryCall;
  getRollout(argument: _flotilla_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetRolloutResponse__Output>): grpc.ClientUnaryCall;
  getRollout(argument: _flotilla_v1_GetRolloutRequest, callback: grpc.requestCallback<_flotilla_v1_GetRolloutResponse__Output>): grpc.ClientUnaryCall;
  
  GetStatus(argument: _flotilla_v1_GetStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _flotilla_v1_GetStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _flotilla_v1_GetStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  GetStatus(argument: _flotilla_v1_GetStatusRequest, callback: grpc.requestCallback<_flotilla_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _flotilla_v1_GetStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _flotilla_v1_GetStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _flotilla_v1_GetStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  getStatus(argument: _flotilla_v1_GetStatusRequest, callback: grpc.requestCallback<_flotilla_v1_GetStatusResponse__Output>): grpc.ClientUnaryCall;
  
  ListArtifacts(argument: _flotilla_v1_ListArtifactsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  ListArtifacts(argument: _flotilla_v1_ListArtifactsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  ListArtifacts(argument: _flotilla_v1_ListArtifactsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  ListArtifacts(argument: _flotilla_v1_ListArtifactsRequest, callback: grpc.requestCallback<_flotilla_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  listArtifacts(argument: _flotilla_v1_ListArtifactsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  listArtifacts(argument: _flotilla_v1_ListArtifactsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  listArtifacts(argument: _flotilla_v1_ListArtifactsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  listArtifacts(argument: _flotilla_v1_ListArtifactsRequest, callback: grpc.requestCallback<_flotilla_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  
  ListEvents(argument: _flotilla_v1_ListEventsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  ListEvents(argument: _flotilla_v1_ListEventsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  ListEvents(argument: _flotilla_v1_ListEventsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  ListEvents(argument: _flotilla_v1_ListEventsRequest, callback: grpc.requestCallback<_flotilla_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  listEvents(argument: _flotilla_v1_ListEventsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  listEvents(argument: _flotilla_v1_ListEventsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  listEvents(argument: _flotilla_v1_ListEventsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  listEvents(argument: _flotilla_v1_ListEventsRequest, callback: grpc.requestCallback<_flotilla_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  
  ListHosts(argument: _flotilla_v1_ListHostsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  ListHosts(argument: _flotilla_v1_ListHostsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  ListHosts(argument: _flotilla_v1_ListHostsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  ListHosts(argument: _flotilla_v1_ListHostsRequest, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  listHosts(argument: _flotilla_v1_ListHostsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  listHosts(argument: _flotilla_v1_ListHostsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  listHosts(argument: _flotilla_v1_ListHostsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  listHosts(argument: _flotilla_v1_ListHostsRequest, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  
  ListRollouts(argument: _flotilla_v1_ListRolloutsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  ListRollouts(argument: _flotilla_v1_ListRolloutsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  ListRollouts(argument: _flotilla_v1_ListRolloutsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  ListRollouts(argument: _flotilla_v1_ListRolloutsRequest, callback: grpc.requestCallback<_flotilla_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  listRollouts(argument: _flotilla_v1_ListRolloutsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  listRollouts(argument: _flotilla_v1_ListRolloutsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  listRollouts(argument: _flotilla_v1_ListRolloutsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  listRollouts(argument: _flotilla_v1_ListRolloutsRequest, callback: grpc.requestCallback<_flotilla_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  
  RemoveArtifact(argument: _flotilla_v1_RemoveArtifactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RemoveArtifactResponse__Output>): grpc.ClientUnaryCall;
  RemoveArtifact(argument: _flotilla_v1_RemoveArtifactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_RemoveArtifactResponse__Output>): grpc.ClientUnaryCall;
  RemoveArtifact(argument: _flotilla_v1_RemoveArtifactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RemoveArtifactResponse__Output>): grpc.ClientUnaryCall;
  RemoveArtifact(argument: _flotilla_v1_RemoveArtifactRequest, callback: grpc.requestCallback<_flotilla_v1_RemoveArtifactResponse__Output>): grpc.ClientUnaryCall;
  removeArtifact(argument: _flotilla_v1_RemoveArtifactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RemoveArtifactResponse__Output>): grpc.ClientUnaryCall;
  removeArtifact(argument: _flotilla_v1_RemoveArtifactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_RemoveArtifactResponse__Output>): grpc.ClientUnaryCall;
  removeArtifact(argument: _flotilla_v1_RemoveArtifactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RemoveArtifactResponse__Output>): grpc.ClientUnaryCall;
  removeArtifact(argument: _flotilla_v1_RemoveArtifactRequest, callback: grpc.requestCallback<_flotilla_v1_RemoveArtifactResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeHost(argument: _flotilla_v1_RevokeHostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RevokeHostResponse__Output>): grpc.ClientUnaryCall;
  RevokeHost(argument: _flotilla_v1_RevokeHostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_RevokeHostResponse__Output>): grpc.ClientUnaryCall;
  RevokeHost(argument: _flotilla_v1_RevokeHostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RevokeHostResponse__Output>): grpc.ClientUnaryCall;
  RevokeHost(argument: _flotilla_v1_RevokeHostRequest, callback: grpc.requestCallback<_flotilla_v1_RevokeHostResponse__Output>): grpc.ClientUnaryCall;
  revokeHost(argument: _flotilla_v1_RevokeHostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RevokeHostResponse__Output>): grpc.ClientUnaryCall;
  revokeHost(argument: _flotilla_v1_RevokeHostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_RevokeHostResponse__Output>): grpc.ClientUnaryCall;
  revokeHost(argument: _flotilla_v1_RevokeHostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RevokeHostResponse__Output>): grpc.ClientUnaryCall;
  revokeHost(argument: _flotilla_v1_RevokeHostRequest, callback: grpc.requestCallback<_flotilla_v1_RevokeHostResponse__Output>): grpc.ClientUnaryCall;
  
  Rollback(argument: _flotilla_v1_RollbackRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RollbackResponse__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _flotilla_v1_RollbackRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_RollbackResponse__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _flotilla_v1_RollbackRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RollbackResponse__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _flotilla_v1_RollbackRequest, callback: grpc.requestCallback<_flotilla_v1_RollbackResponse__Output>): grpc.ClientUnaryCall;
  rollback(argument: _flotilla_v1_RollbackRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RollbackResponse__Output>): grpc.ClientUnaryCall;
  rollback(argument: _flotilla_v1_RollbackRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_RollbackResponse__Output>): grpc.ClientUnaryCall;
  rollback(argument: _flotilla_v1_RollbackRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RollbackResponse__Output>): grpc.ClientUnaryCall;
  rollback(argument: _flotilla_v1_RollbackRequest, callback: grpc.requestCallback<_flotilla_v1_RollbackResponse__Output>): grpc.ClientUnaryCall;
  
  RolloutCommand(argument: _flotilla_v1_RolloutCommandRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RolloutCommandResponse__Output>): grpc.ClientUnaryCall;
  RolloutCommand(argument: _flotilla_v1_RolloutCommandRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_RolloutCommandResponse__Output>): grpc.ClientUnaryCall;
  RolloutCommand(argument: _flotilla_v1_RolloutCommandRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RolloutCommandResponse__Output>): grpc.ClientUnaryCall;
  RolloutCommand(argument: _flotilla_v1_RolloutCommandRequest, callback: grpc.requestCallback<_flotilla_v1_RolloutCommandResponse__Output>): grpc.ClientUnaryCall;
  rolloutCommand(argument: _flotilla_v1_RolloutCommandRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RolloutCommandResponse__Output>): grpc.ClientUnaryCall;
  rolloutCommand(argument: _flotilla_v1_RolloutCommandRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_RolloutCommandResponse__Output>): grpc.ClientUnaryCall;
  rolloutCommand(argument: _flotilla_v1_RolloutCommandRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_RolloutCommandResponse__Output>): grpc.ClientUnaryCall;
  rolloutCommand(argument: _flotilla_v1_RolloutCommandRequest, callback: grpc.requestCallback<_flotilla_v1_RolloutCommandResponse__Output>): grpc.ClientUnaryCall;
  
  StartRollout(argument: _flotilla_v1_StartRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_StartRolloutResponse__Output>): grpc.ClientUnaryCall;
  StartRollout(argument: _flotilla_v1_StartRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_StartRolloutResponse__Output>): grpc.ClientUnaryCall;
  StartRollout(argument: _flotilla_v1_StartRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_StartRolloutResponse__Output>): grpc.ClientUnaryCall;
  StartRollout(argument: _flotilla_v1_StartRolloutRequest, callback: grpc.requestCallback<_flotilla_v1_StartRolloutResponse__Output>): grpc.ClientUnaryCall;
  startRollout(argument: _flotilla_v1_StartRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_StartRolloutResponse__Output>): grpc.ClientUnaryCall;
  startRollout(argument: _flotilla_v1_StartRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_StartRolloutResponse__Output>): grpc.ClientUnaryCall;
  startRollout(argument: _flotilla_v1_StartRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_StartRolloutResponse__Output>): grpc.ClientUnaryCall;
  startRollout(argument: _flotilla_v1_StartRolloutRequest, callback: grpc.requestCallback<_flotilla_v1_StartRolloutResponse__Output>): grpc.ClientUnaryCall;
  
  WatchRollout(argument: _flotilla_v1_WatchRolloutRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_v1_Rollout__Output>;
  WatchRollout(argument: _flotilla_v1_WatchRolloutRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_v1_Rollout__Output>;
  watchRollout(argument: _flotilla_v1_WatchRolloutRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_v1_Rollout__Output>;
  watchRollout(argument: _flotilla_v1_WatchRolloutRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_v1_Rollout__Output>;
  
  Whoami(argument: _flotilla_v1_WhoamiRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_WhoamiResponse__Output>): grpc.ClientUnaryCall;
  Whoami(argument: _flotilla_v1_WhoamiRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_WhoamiResponse__Output>): grpc.ClientUnaryCall;
  Whoami(argument: _flotilla_v1_WhoamiRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_WhoamiResponse__Output>): grpc.ClientUnaryCall;
  Whoami(argument: _flotilla_v1_WhoamiRequest, callback: grpc.requestCallback<_flotilla_v1_WhoamiResponse__Output>): grpc.ClientUnaryCall;
  whoami(argument: _flotilla_v1_WhoamiRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_WhoamiResponse__Output>): grpc.ClientUnaryCall;
  whoami(argument: _flotilla_v1_WhoamiRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_WhoamiResponse__Output>): grpc.ClientUnaryCall;
  whoami(argument: _flotilla_v1_WhoamiRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_WhoamiResponse__Output>): grpc.ClientUnaryCall;
  whoami(argument: _flotilla_v1_WhoamiRequest, callback: grpc.requestCallback<_flotilla_v1_WhoamiResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface ControlHandlers extends grpc.UntypedServiceImplementation {
  CollectArtifacts: grpc.handleUnaryCall<_flotilla_v1_CollectArtifactsRequest__Output, _flotilla_v1_CollectArtifactsResponse>;
  
  Deploy: grpc.handleUnaryCall<_flotilla_v1_DeployRequest__Output, _flotilla_v1_DeployResponse>;
  
  GetHistory: grpc.handleUnaryCall<_flotilla_v1_GetHistoryRequest__Output, _flotilla_v1_GetHistoryResponse>;
  
  GetRollout: grpc.handleUnaryCall<_flotilla_v1_GetRolloutRequest__Output, _flotilla_v1_GetRolloutResponse>;
  
  GetStatus: grpc.handleUnaryCall<_flotilla_v1_GetStatusRequest__Output, _flotilla_v1_GetStatusResponse>;
  
  ListArtifacts: grpc.handleUnaryCall<_flotilla_v1_ListArtifactsRequest__Output, _flotilla_v1_ListArtifactsResponse>;
  
  ListEvents: grpc.handleUnaryCall<_flotilla_v1_ListEventsRequest__Output, _flotilla_v1_ListEventsResponse>;
  
  ListHosts: grpc.handleUnaryCall<_flotilla_v1_ListHostsRequest__Output, _flotilla_v1_ListHostsResponse>;
  
  ListRollouts: grpc.handleUnaryCall<_flotilla_v1_ListRolloutsRequest__Output, _flotilla_v1_ListRolloutsResponse>;
  
  RemoveArtifact: grpc.handleUnaryCall<_flotilla_v1_RemoveArtifactRequest__Output, _flotilla_v1_RemoveArtifactResponse>;
  
  RevokeHost: grpc.handleUnaryCall<_flotilla_v1_RevokeHostRequest__Output, _flotilla_v1_RevokeHostResponse>;
  
  Rollback: grpc.handleUnaryCall<_flotilla_v1_RollbackRequest__Output, _flotilla_v1_RollbackResponse>;
  
  RolloutCommand: grpc.handleUnaryCall<_flotilla_v1_RolloutCommandRequest__Output, _flotilla_v1_RolloutCommandResponse>;
  
  StartRollout: grpc.handleUnaryCall<_flotilla_v1_StartRolloutRequest__Output, _flotilla_v1_StartRolloutResponse>;
  
  WatchRollout: grpc.handleServerStreamingCall<_flotilla_v1_WatchRolloutRequest__Output, _flotilla_v1_Rollout>;
  
  Whoami: grpc.handleUnaryCall<_flotilla_v1_WhoamiRequest__Output, _flotilla_v1_WhoamiResponse>;
  
}

export interface ControlDefinition extends grpc.ServiceDefinition {
  CollectArtifacts: MethodDefinition<_flotilla_v1_CollectArtifactsRequest, _flotilla_v1_CollectArtifactsResponse, _flotilla_v1_CollectArtifactsRequest__Output, _flotilla_v1_CollectArtifactsResponse__Output>
  Deploy: MethodDefinition<_flotilla_v1_DeployRequest, _flotilla_v1_DeployResponse, _flotilla_v1_DeployRequest__Output, _flotilla_v1_DeployResponse__Output>
  GetHistory: MethodDefinition<_flotilla_v1_GetHistoryRequest, _flotilla_v1_GetHistoryResponse, _flotilla_v1_GetHistoryRequest__Output, _flotilla_v1_GetHistoryResponse__Output>
  GetRollout: MethodDefinition<_flotilla_v1_GetRolloutRequest, _flotilla_v1_GetRolloutResponse, _flotilla_v1_GetRolloutRequest__Output, _flotilla_v1_GetRolloutResponse__Output>
  GetStatus: MethodDefinition<_flotilla_v1_GetStatusRequest, _flotilla_v1_GetStatusResponse, _flotilla_v1_GetStatusRequest__Output, _flotilla_v1_GetStatusResponse__Output>
  ListArtifacts: MethodDefinition<_flotilla_v1_ListArtifactsRequest, _flotilla_v1_ListArtifactsResponse, _flotilla_v1_ListArtifactsRequest__Output, _flotilla_v1_ListArtifactsResponse__Output>
  ListEvents: MethodDefinition<_flotilla_v1_ListEventsRequest, _flotilla_v1_ListEventsResponse, _flotilla_v1_ListEventsRequest__Output, _flotilla_v1_ListEventsResponse__Output>
  ListHosts: MethodDefinition<_flotilla_v1_ListHostsRequest, _flotilla_v1_ListHostsResponse, _flotilla_v1_ListHostsRequest__Output, _flotilla_v1_ListHostsResponse__Output>
  ListRollouts: MethodDefinition<_flotilla_v1_ListRolloutsRequest, _flotilla_v1_ListRolloutsResponse, _flotilla_v1_ListRolloutsRequest__Output, _flotilla_v1_ListRolloutsResponse__Output>
  RemoveArtifact: MethodDefinition<_flotilla_v1_RemoveArtifactRequest, _flotilla_v1_RemoveArtifactResponse, _flotilla_v1_RemoveArtifactRequest__Output, _flotilla_v1_RemoveArtifactResponse__Output>
  RevokeHost: MethodDefinition<_flotilla_v1_RevokeHostRequest, _flotilla_v1_RevokeHostResponse, _flotilla_v1_RevokeHostRequest__Output, _flotilla_v1_RevokeHostResponse__Output>
  Rollback: MethodDefinition<_flotilla_v1_RollbackRequest, _flotilla_v1_RollbackResponse, _flotilla_v1_RollbackRequest__Output, _flotilla_v1_RollbackResponse__Output>
  RolloutCommand: MethodDefinition<_flotilla_v1_RolloutCommandRequest, _flotilla_v1_RolloutCommandResponse, _flotilla_v1_RolloutCommandRequest__Output, _flotilla_v1_RolloutCommandResponse__Output>
  StartRollout: MethodDefinition<_flotilla_v1_StartRolloutRequest, _flotilla_v1_StartRolloutResponse, _flotilla_v1_StartRolloutRequest__Output, _flotilla_v1_StartRolloutResponse__Output>
  WatchRollout: MethodDefinition<_flotilla_v1_WatchRolloutRequest, _flotilla_v1_Rollout, _flotilla_v1_WatchRolloutRequest__Output, _flotilla_v1_Rollout__Output>
  Whoami: MethodDefinition<_flotilla_v1_WhoamiRequest, _flotilla_v1_WhoamiResponse, _flotilla_v1_WhoamiRequest__Output, _flotilla_v1_WhoamiResponse__Output>
}
