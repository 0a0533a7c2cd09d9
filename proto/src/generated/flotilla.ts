import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AppEvent as _flotilla_v1_AppEvent, AppEvent__Output as _flotilla_v1_AppEvent__Output } from './flotilla/v1/AppEvent.js';
import type { AppInfo as _flotilla_v1_AppInfo, AppInfo__Output as _flotilla_v1_AppInfo__Output } from './flotilla/v1/AppInfo.js';
import type { AppStatus as _flotilla_v1_AppStatus, AppStatus__Output as _flotilla_v1_AppStatus__Output } from './flotilla/v1/AppStatus.js';
import type { ArtifactInfo as _flotilla_v1_ArtifactInfo, ArtifactInfo__Output as _flotilla_v1_ArtifactInfo__Output } from './flotilla/v1/ArtifactInfo.js';
import type { ArtifactsClient as _flotilla_v1_ArtifactsClient, ArtifactsDefinition as _flotilla_v1_ArtifactsDefinition } from './flotilla/v1/Artifacts.js';
import type { ClusterInfo as _flotilla_v1_ClusterInfo, ClusterInfo__Output as _flotilla_v1_ClusterInfo__Output } from './flotilla/v1/ClusterInfo.js';
import type { CollectArtifactsRequest as _flotilla_v1_CollectArtifactsRequest, CollectArtifactsRequest__Output as _flotilla_v1_CollectArtifactsRequest__Output } from './flotilla/v1/CollectArtifactsRequest.js';
import type { CollectArtifactsResponse as _flotilla_v1_CollectArtifactsResponse, CollectArtifactsResponse__Output as _flotilla_v1_CollectArtifactsResponse__Output } from './flotilla/v1/CollectArtifactsResponse.js';
import type { ControlClient as _flotilla_v1_ControlClient, ControlDefinition as _flotilla_v1_ControlDefinition } from './flotilla/v1/Control.js';
import type { ControllerInfo as _flotilla_v1_ControllerInfo, ControllerInfo__Output as _flotilla_v1_ControllerInfo__Output } from './flotilla/v1/ControllerInfo.js';
import type { DeployRequest as _flotilla_v1_DeployRequest, DeployRequest__Output as _flotilla_v1_DeployRequest__Output } from './flotilla/v1/DeployRequest.js';
import type { DeployResponse as _flotilla_v1_DeployResponse, DeployResponse__Output as _flotilla_v1_DeployResponse__Output } from './flotilla/v1/DeployResponse.js';
import type { DownloadChunk as _flotilla_v1_DownloadChunk, DownloadChunk__Output as _flotilla_v1_DownloadChunk__Output } from './flotilla/v1/DownloadChunk.js';
import type { DownloadRequest as _flotilla_v1_DownloadRequest, DownloadRequest__Output as _flotilla_v1_DownloadRequest__Output } from './flotilla/v1/DownloadRequest.js';
import type { GetHistoryRequest as _flotilla_v1_GetHistoryRequest, GetHistoryRequest__Output as _flotilla_v1_GetHistoryRequest__Output } from './flotilla/v1/GetHistoryRequest.js';
import type { GetHistoryResponse as _flotilla_v1_GetHistoryResponse, GetHistoryResponse__Output as _flotilla_v1_GetHistoryResponse__Output } from './flotilla/v1/GetHistoryResponse.js';
import type { GetRolloutRequest as _flotilla_v1_GetRolloutRequest, GetRolloutRequest__Output as _flotilla_v1_GetRolloutRequest__Output } from './flotilla/v1/GetRolloutRequest.js';
import type { GetRolloutResponse as _flotilla_v1_GetRolloutResponse, GetRolloutResponse__Output as _flotilla_v1_GetRolloutResponse__Output } from './flotilla/v1/GetRolloutResponse.js';
import type { GetStatusRequest as _flotilla_v1_GetStatusRequest, GetStatusRequest__Output as _flotilla_v1_GetStatusRequest__Output } from './flotilla/v1/GetStatusRequest.js';
import type { GetStatusResponse as _flotilla_v1_GetStatusResponse, GetStatusResponse__Output as _flotilla_v1_GetStatusResponse__Output } from './flotilla/v1/GetStatusResponse.js';
import type { HostAssignment as _flotilla_v1_HostAssignment, HostAssignment__Output as _flotilla_v1_HostAssignment__Output } from './flotilla/v1/HostAssignment.js';
import type { HostInfo as _flotilla_v1_HostInfo, HostInfo__Output as _flotilla_v1_HostInfo__Output } from './flotilla/v1/HostInfo.js';
import type { Inventory as _flotilla_v1_Inventory, Inventory__Output as _flotilla_v1_Inventory__Output } from './flotilla/v1/Inventory.js';
import type { KeptArtifact as _flotilla_v1_KeptArtifact, KeptArtifact__Output as _flotilla_v1_KeptArtifact__Output } from './flotilla/v1/KeptArtifact.js';
import type { ListArtifactsRequest as _flotilla_v1_ListArtifactsRequest, ListArtifactsRequest__Output as _flotilla_v1_ListArtifactsRequest__Output } from './flotilla/v1/ListArtifactsRequest.js';
import type { ListArtifactsResponse as _flotilla_v1_ListArtifactsResponse, ListArtifactsResponse__Output as _flotilla_v1_ListArtifactsResponse__Output } from './flotilla/v1/ListArtifactsResponse.js';
import type { ListEventsRequest as _flotilla_v1_ListEventsRequest, ListEventsRequest__Output as _flotilla_v1_ListEventsRequest__Output } from './flotilla/v1/ListEventsRequest.js';
import type { ListEventsResponse as _flotilla_v1_ListEventsResponse, ListEventsResponse__Output as _flotilla_v1_ListEventsResponse__Output } from './flotilla/v1/ListEventsResponse.js';
import type { ListHostsRequest as _flotilla_v1_ListHostsRequest, ListHostsRequest__Output as _flotilla_v1_ListHostsRequest__Output } from './flotilla/v1/ListHostsRequest.js';
import type { ListHostsResponse as _flotilla_v1_ListHostsResponse, ListHostsResponse__Output as _flotilla_v1_ListHostsResponse__Output } from './flotilla/v1/ListHostsResponse.js';
import type { ListRolloutsRequest as _flotilla_v1_ListRolloutsRequest, ListRolloutsRequest__Output as _flotilla_v1_ListRolloutsRequest__Output } from './flotilla/v1/ListRolloutsRequest.js';
import type { ListRolloutsResponse as _flotilla_v1_ListRolloutsResponse, ListRolloutsResponse__Output as _flotilla_v1_ListRolloutsResponse__Output } from './flotilla/v1/ListRolloutsResponse.js';
import type { Load as _flotilla_v1_Load, Load__Output as _flotilla_v1_Load__Output } from './flotilla/v1/Load.js';
import type { RemoveArtifactRequest as _flotilla_v1_RemoveArtifactRequest, RemoveArtifactRequest__Output as _flotilla_v1_RemoveArtifactRequest__Output } from './flotilla/v1/RemoveArtifactRequest.js';
import type { RemoveArtifactResponse as _flotilla_v1_RemoveArtifactResponse, RemoveArtifactResponse__Output as _flotilla_v1_RemoveArtifactResponse__Output } from './flotilla/v1/RemoveArtifactResponse.js';
import type { Revert as _flotilla_v1_Revert, Revert__Output as _flotilla_v1_Revert__Output } from './flotilla/v1/Revert.js';
import type { RevokeHostRequest as _flotilla_v1_RevokeHostRequest, RevokeHostRequest__Output as _flotilla_v1_RevokeHostRequest__Output } from './flotilla/v1/RevokeHostRequest.js';
import type { RevokeHostResponse as _flotilla_v1_RevokeHostResponse, RevokeHostResponse__Output as _flotilla_v1_RevokeHostResponse__Output } from './flotilla/v1/RevokeHostResponse.js';
import type { RoleGrant as _flotilla_v1_RoleGrant, RoleGrant__Output as _flotilla_v1_RoleGrant__Output } from './flotilla/v1/RoleGrant.js';
import type { RollbackRequest as _flotilla_v1_RollbackRequest, RollbackRequest__Output as _flotilla_v1_RollbackRequest__Output } from './flotilla/v1/RollbackRequest.js';
import type { RollbackResponse as _flotilla_v1_RollbackResponse, RollbackResponse__Output as _flotilla_v1_RollbackResponse__Output } from './flotilla/v1/RollbackResponse.js';
import type { Rollout as _flotilla_v1_Rollout, Rollout__Output as _flotilla_v1_Rollout__Output } from './flotilla/v1/Rollout.js';
import type { RolloutCommandRequest as _flotilla_v1_RolloutCommandRequest, RolloutCommandRequest__Output as _flotilla_v1_RolloutCommandRequest__Output } from './flotilla/v1/RolloutCommandRequest.js';
import type { RolloutCommandResponse as _flotilla_v1_RolloutCommandResponse, RolloutCommandResponse__Output as _flotilla_v1_RolloutCommandResponse__Output } from './flotilla/v1/RolloutCommandResponse.js';
import type { RolloutCounters as _flotilla_v1_RolloutCounters, RolloutCounters__Output as _flotilla_v1_RolloutCounters__Output } from './flotilla/v1/RolloutCounters.js';
import type { RolloutHost as _flotilla_v1_RolloutHost, RolloutHost__Output as _flotilla_v1_RolloutHost__Output } from './flotilla/v1/RolloutHost.js';
import type { RolloutHostReport as _flotilla_v1_RolloutHostReport, RolloutHostReport__Output as _flotilla_v1_RolloutHostReport__Output } from './flotilla/v1/RolloutHostReport.js';
import type { RolloutLogEntry as _flotilla_v1_RolloutLogEntry, RolloutLogEntry__Output as _flotilla_v1_RolloutLogEntry__Output } from './flotilla/v1/RolloutLogEntry.js';
import type { RolloutStep as _flotilla_v1_RolloutStep, RolloutStep__Output as _flotilla_v1_RolloutStep__Output } from './flotilla/v1/RolloutStep.js';
import type { RolloutStrategy as _flotilla_v1_RolloutStrategy, RolloutStrategy__Output as _flotilla_v1_RolloutStrategy__Output } from './flotilla/v1/RolloutStrategy.js';
import type { RolloutSummary as _flotilla_v1_RolloutSummary, RolloutSummary__Output as _flotilla_v1_RolloutSummary__Output } from './flotilla/v1/RolloutSummary.js';
import type { SignedDescriptor as _flotilla_v1_SignedDescriptor, SignedDescriptor__Output as _flotilla_v1_SignedDescriptor__Output } from './flotilla/v1/SignedDescriptor.js';
import type { StablePeriod as _flotilla_v1_StablePeriod, StablePeriod__Output as _flotilla_v1_StablePeriod__Output } from './flotilla/v1/StablePeriod.js';
import type { StartRolloutRequest as _flotilla_v1_StartRolloutRequest, StartRolloutRequest__Output as _flotilla_v1_StartRolloutRequest__Output } from './flotilla/v1/StartRolloutRequest.js';
import type { StartRolloutResponse as _flotilla_v1_StartRolloutResponse, StartRolloutResponse__Output as _flotilla_v1_StartRolloutResponse__Output } from './flotilla/v1/StartRolloutResponse.js';
import type { UploadRequest as _flotilla_v1_UploadRequest, UploadRequest__Output as _flotilla_v1_UploadRequest__Output } from './flotilla/v1/UploadRequest.js';
import type { UploadResponse as _flotilla_v1_UploadResponse, UploadResponse__Output as _flotilla_v1_UploadResponse__Output } from './flotilla/v1/UploadResponse.js';
import type { VersionHistory as _flotilla_v1_VersionHistory, VersionHistory__Output as _flotilla_v1_VersionHistory__Output } from './flotilla/v1/VersionHistory.js';
import type { WatchRolloutRequest as _flotilla_v1_WatchRolloutRequest, WatchRolloutRequest__Output as _flotilla_v1_WatchRolloutRequest__Output } from './flotilla/v1/WatchRolloutRequest.js';
import type { WhoamiRequest as _flotilla_v1_WhoamiRequest, WhoamiRequest__Output as _flotilla_v1_WhoamiRequest__Output } from './flotilla/v1/WhoamiRequest.js';
import type { WhoamiResponse as _flotilla_v1_WhoamiResponse, WhoamiResponse__Output as _flotilla_v1_WhoamiResponse__Output } from './flotilla/v1/WhoamiResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  flotilla: {
    v1: {
      AppEvent: MessageTypeDefinition<_flotilla_v1_AppEvent, _flotilla_v1_AppEvent__Output>
      AppInfo: MessageTypeDefinition<_flotilla_v1_AppInfo, _flotilla_v1_AppInfo__Output>
      AppStatus: MessageTypeDefinition<_flotilla_v1_AppStatus, _flotilla_v1_AppStatus__Output>
      ArtifactInfo: MessageTypeDefinition<_flotilla_v1_ArtifactInfo, _flotilla_v1_ArtifactInfo__Output>
      Artifacts: SubtypeConstructor<typeof grpc.Client, _flotilla_v1_ArtifactsClient> & { service: _flotilla_v1_ArtifactsDefinition }
      ClusterInfo: MessageTypeDefinition<_flotilla_v1_ClusterInfo, _flotilla_v1_ClusterInfo__Output>
      CollectArtifactsRequest: MessageTypeDefinition<_flotilla_v1_CollectArtifactsRequest, _flotilla_v1_CollectArtifactsRequest__Output>
      CollectArtifactsResponse: MessageTypeDefinition<_flotilla_v1_CollectArtifactsResponse, _flotilla_v1_CollectArtifactsResponse__Output>
      Control: SubtypeConstructor<typeof grpc.Client, _flotilla_v1_ControlClient> & { service: _flotilla_v1_ControlDefinition }
      ControllerInfo: MessageTypeDefinition<_flotilla_v1_ControllerInfo, _flotilla_v1_ControllerInfo__Output>
      DeployRequest: MessageTypeDefinition<_flotilla_v1_DeployRequest, _flotilla_v1_DeployRequest__Output>
      DeployResponse: MessageTypeDefinition<_flotilla_v1_DeployResponse, _flotilla_v1_DeployResponse__Output>
      DownloadChunk: MessageTypeDefinition<_flotilla_v1_DownloadChunk, _flotilla_v1_DownloadChunk__Output>
      DownloadRequest: MessageTypeDefinition<_flotilla_v1_DownloadRequest, _flotilla_v1_DownloadRequest__Output>
      GetHistoryRequest: MessageTypeDefinition<_flotilla_v1_GetHistoryRequest, _flotilla_v1_GetHistoryRequest__Output>
      GetHistoryResponse: MessageTypeDefinition<_flotilla_v1_GetHistoryResponse, _flotilla_v1_GetHistoryResponse__Output>
      GetRolloutRequest: MessageTypeDefinition<_flotilla_v1_GetRolloutRequest, _flotilla_v1_GetRolloutRequest__Output>
      GetRolloutResponse: MessageTypeDefinition<_flotilla_v1_GetRolloutResponse, _flotilla_v1_GetRolloutResponse__Output>
      GetStatusRequest: MessageTypeDefinition<_flotilla_v1_GetStatusRequest, _flotilla_v1_GetStatusRequest__Output>
      GetStatusResponse: MessageTypeDefinition<_flotilla_v1_GetStatusResponse, _flotilla_v1_GetStatusResponse__Output>
      HostAssignment: MessageTypeDefinition<_flotilla_v1_HostAssignment, _flotilla_v1_HostAssignment__Output>
      HostInfo: MessageTypeDefinition<_flotilla_v1_HostInfo, _flotilla_v1_HostInfo__Output>
      Inventory: MessageTypeDefinition<_flotilla_v1_Inventory, _flotilla_v1_Inventory__Output>
      KeptArtifact: MessageTypeDefinition<_flotilla_v1_KeptArtifact, _flotilla_v1_KeptArtifact__Output>
      ListArtifactsRequest: MessageTypeDefinition<_flotilla_v1_ListArtifactsRequest, _flotilla_v1_ListArtifactsRequest__Output>
      ListArtifactsResponse: MessageTypeDefinition<_flotilla_v1_ListArtifactsResponse, _flotilla_v1_ListArtifactsResponse__Output>
      ListEventsRequest: MessageTypeDefinition<_flotilla_v1_ListEventsRequest, _flotilla_v1_ListEventsRequest__Output>
      ListEventsResponse: MessageTypeDefinition<_flotilla_v1_ListEventsResponse, _flotilla_v1_ListEventsResponse__Output>
      ListHostsRequest: MessageTypeDefinition<_flotilla_v1_ListHostsRequest, _flotilla_v1_ListHostsRequest__Output>
      ListHostsResponse: MessageTypeDefinition<_flotilla_v1_ListHostsResponse, _flotilla_v1_ListHostsResponse__Output>
      ListRolloutsRequest: MessageTypeDefinition<_flotilla_v1_ListRolloutsRequest, _flotilla_v1_ListRolloutsRequest__Output>
      ListRolloutsResponse: MessageTypeDefinition<_flotilla_v1_ListRolloutsResponse, _flotilla_v1_ListRolloutsResponse__Output>
      Load: MessageTypeDefinition<_flotilla_v1_Load, _flotilla_v1_Load__Output>
      RemoveArtifactRequest: MessageTypeDefinition<_flotilla_v1_RemoveArtifactRequest, _flotilla_v1_RemoveArtifactRequest__Output>
      RemoveArtifactResponse: MessageTypeDefinition<_flotilla_v1_RemoveArtifactResponse, _flotilla_v1_RemoveArtifactResponse__Output>
      Revert: MessageTypeDefinition<_flotilla_v1_Revert, _flotilla_v1_Revert__Output>
      RevokeHostRequest: MessageTypeDefinition<_flotilla_v1_RevokeHostRequest, _flotilla_v1_RevokeHostRequest__Output>
      RevokeHostResponse: MessageTypeDefinition<_flotilla_v1_RevokeHostResponse, _flotilla_v1_RevokeHostResponse__Output>
      RoleGrant: MessageTypeDefinition<_flotilla_v1_RoleGrant, _flotilla_v1_RoleGrant__Output>
      RollbackRequest: MessageTypeDefinition<_flotilla_v1_RollbackRequest, _flotilla_v1_RollbackRequest__Output>
      RollbackResponse: MessageTypeDefinition<_flotilla_v1_RollbackResponse, _flotilla_v1_RollbackResponse__Output>
      Rollout: MessageTypeDefinition<_flotilla_v1_Rollout, _flotilla_v1_Rollout__Output>
      RolloutCommandRequest: MessageTypeDefinition<_flotilla_v1_RolloutCommandRequest, _flotilla_v1_RolloutCommandRequest__Output>
      RolloutCommandResponse: MessageTypeDefinition<_flotilla_v1_RolloutCommandResponse, _flotilla_v1_RolloutCommandResponse__Output>
      RolloutCounters: MessageTypeDefinition<_flotilla_v1_RolloutCounters, _flotilla_v1_RolloutCounters__Output>
      RolloutHost: MessageTypeDefinition<_flotilla_v1_RolloutHost, _flotilla_v1_RolloutHost__Output>
      RolloutHostReport: MessageTypeDefinition<_flotilla_v1_RolloutHostReport, _flotilla_v1_RolloutHostReport__Output>
      RolloutLogEntry: MessageTypeDefinition<_flotilla_v1_RolloutLogEntry, _flotilla_v1_RolloutLogEntry__Output>
      RolloutStep: MessageTypeDefinition<_flotilla_v1_RolloutStep, _flotilla_v1_RolloutStep__Output>
      RolloutStrategy: MessageTypeDefinition<_flotilla_v1_RolloutStrategy, _flotilla_v1_RolloutStrategy__Output>
      RolloutSummary: MessageTypeDefinition<_flotilla_v1_RolloutSummary, _flotilla_v1_RolloutSummary__Output>
      SignedDescriptor: MessageTypeDefinition<_flotilla_v1_SignedDescriptor, _flotilla_v1_SignedDescriptor__Output>
      StablePeriod: MessageTypeDefinition<_flotilla_v1_StablePeriod, _flotilla_v1_StablePeriod__Output>
      StartRolloutRequest: MessageTypeDefinition<_flotilla_v1_StartRolloutRequest, _flotilla_v1_StartRolloutRequest__Output>
      StartRolloutResponse: MessageTypeDefinition<_flotilla_v1_StartRolloutResponse, _flotilla_v1_StartRolloutResponse__Output>
      UploadRequest: MessageTypeDefinition<_flotilla_v1_UploadRequest, _flotilla_v1_UploadRequest__Output>
      UploadResponse: MessageTypeDefinition<_flotilla_v1_UploadResponse, _flotilla_v1_UploadResponse__Output>
      VersionHistory: MessageTypeDefinition<_flotilla_v1_VersionHistory, _flotilla_v1_VersionHistory__Output>
      WatchRolloutRequest: MessageTypeDefinition<_flotilla_v1_WatchRolloutRequest, _flotilla_v1_WatchRolloutRequest__Output>
      WhoamiRequest: MessageTypeDefinition<_flotilla_v1_WhoamiRequest, _flotilla_v1_WhoamiRequest__Output>
      WhoamiResponse: MessageTypeDefinition<_flotilla_v1_WhoamiResponse, _flotilla_v1_WhoamiResponse__Output>
    }
  }
}

