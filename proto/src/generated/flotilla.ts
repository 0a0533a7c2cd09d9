import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AppInfo as _flotilla_v1_AppInfo, AppInfo__Output as _flotilla_v1_AppInfo__Output } from './flotilla/v1/AppInfo.js';
import type { AppStatus as _flotilla_v1_AppStatus, AppStatus__Output as _flotilla_v1_AppStatus__Output } from './flotilla/v1/AppStatus.js';
import type { ArtifactInfo as _flotilla_v1_ArtifactInfo, ArtifactInfo__Output as _flotilla_v1_ArtifactInfo__Output } from './flotilla/v1/ArtifactInfo.js';
import type { ArtifactsClient as _flotilla_v1_ArtifactsClient, ArtifactsDefinition as _flotilla_v1_ArtifactsDefinition } from './flotilla/v1/Artifacts.js';
import type { ControlClient as _flotilla_v1_ControlClient, ControlDefinition as _flotilla_v1_ControlDefinition } from './flotilla/v1/Control.js';
import type { DeployRequest as _flotilla_v1_DeployRequest, DeployRequest__Output as _flotilla_v1_DeployRequest__Output } from './flotilla/v1/DeployRequest.js';
import type { DeployResponse as _flotilla_v1_DeployResponse, DeployResponse__Output as _flotilla_v1_DeployResponse__Output } from './flotilla/v1/DeployResponse.js';
import type { DownloadChunk as _flotilla_v1_DownloadChunk, DownloadChunk__Output as _flotilla_v1_DownloadChunk__Output } from './flotilla/v1/DownloadChunk.js';
import type { DownloadRequest as _flotilla_v1_DownloadRequest, DownloadRequest__Output as _flotilla_v1_DownloadRequest__Output } from './flotilla/v1/DownloadRequest.js';
import type { GetStatusRequest as _flotilla_v1_GetStatusRequest, GetStatusRequest__Output as _flotilla_v1_GetStatusRequest__Output } from './flotilla/v1/GetStatusRequest.js';
import type { GetStatusResponse as _flotilla_v1_GetStatusResponse, GetStatusResponse__Output as _flotilla_v1_GetStatusResponse__Output } from './flotilla/v1/GetStatusResponse.js';
import type { HostAssignment as _flotilla_v1_HostAssignment, HostAssignment__Output as _flotilla_v1_HostAssignment__Output } from './flotilla/v1/HostAssignment.js';
import type { HostInfo as _flotilla_v1_HostInfo, HostInfo__Output as _flotilla_v1_HostInfo__Output } from './flotilla/v1/HostInfo.js';
import type { Inventory as _flotilla_v1_Inventory, Inventory__Output as _flotilla_v1_Inventory__Output } from './flotilla/v1/Inventory.js';
import type { ListArtifactsRequest as _flotilla_v1_ListArtifactsRequest, ListArtifactsRequest__Output as _flotilla_v1_ListArtifactsRequest__Output } from './flotilla/v1/ListArtifactsRequest.js';
import type { ListArtifactsResponse as _flotilla_v1_ListArtifactsResponse, ListArtifactsResponse__Output as _flotilla_v1_ListArtifactsResponse__Output } from './flotilla/v1/ListArtifactsResponse.js';
import type { ListHostsRequest as _flotilla_v1_ListHostsRequest, ListHostsRequest__Output as _flotilla_v1_ListHostsRequest__Output } from './flotilla/v1/ListHostsRequest.js';
import type { ListHostsResponse as _flotilla_v1_ListHostsResponse, ListHostsResponse__Output as _flotilla_v1_ListHostsResponse__Output } from './flotilla/v1/ListHostsResponse.js';
import type { Load as _flotilla_v1_Load, Load__Output as _flotilla_v1_Load__Output } from './flotilla/v1/Load.js';
import type { SignedDescriptor as _flotilla_v1_SignedDescriptor, SignedDescriptor__Output as _flotilla_v1_SignedDescriptor__Output } from './flotilla/v1/SignedDescriptor.js';
import type { UploadRequest as _flotilla_v1_UploadRequest, UploadRequest__Output as _flotilla_v1_UploadRequest__Output } from './flotilla/v1/UploadRequest.js';
import type { UploadResponse as _flotilla_v1_UploadResponse, UploadResponse__Output as _flotilla_v1_UploadResponse__Output } from './flotilla/v1/UploadResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  flotilla: {
    v1: {
      AppInfo: MessageTypeDefinition<_flotilla_v1_AppInfo, _flotilla_v1_AppInfo__Output>
      AppStatus: MessageTypeDefinition<_flotilla_v1_AppStatus, _flotilla_v1_AppStatus__Output>
      ArtifactInfo: MessageTypeDefinition<_flotilla_v1_ArtifactInfo, _flotilla_v1_ArtifactInfo__Output>
      Artifacts: SubtypeConstructor<typeof grpc.Client, _flotilla_v1_ArtifactsClient> & { service: _flotilla_v1_ArtifactsDefinition }
      Control: SubtypeConstructor<typeof grpc.Client, _flotilla_v1_ControlClient> & { service: _flotilla_v1_ControlDefinition }
      DeployRequest: MessageTypeDefinition<_flotilla_v1_DeployRequest, _flotilla_v1_DeployRequest__Output>
      DeployResponse: MessageTypeDefinition<_flotilla_v1_DeployResponse, _flotilla_v1_DeployResponse__Output>
      DownloadChunk: MessageTypeDefinition<_flotilla_v1_DownloadChunk, _flotilla_v1_DownloadChunk__Output>
      DownloadRequest: MessageTypeDefinition<_flotilla_v1_DownloadRequest, _flotilla_v1_DownloadRequest__Output>
      GetStatusRequest: MessageTypeDefinition<_flotilla_v1_GetStatusRequest, _flotilla_v1_GetStatusRequest__Output>
      GetStatusResponse: MessageTypeDefinition<_flotilla_v1_GetStatusResponse, _flotilla_v1_GetStatusResponse__Output>
      HostAssignment: MessageTypeDefinition<_flotilla_v1_HostAssignment, _flotilla_v1_HostAssignment__Output>
      HostInfo: MessageTypeDefinition<_flotilla_v1_HostInfo, _flotilla_v1_HostInfo__Output>
      Inventory: MessageTypeDefinition<_flotilla_v1_Inventory, _flotilla_v1_Inventory__Output>
      ListArtifactsRequest: MessageTypeDefinition<_flotilla_v1_ListArtifactsRequest, _flotilla_v1_ListArtifactsRequest__Output>
      ListArtifactsResponse: MessageTypeDefinition<_flotilla_v1_ListArtifactsResponse, _flotilla_v1_ListArtifactsResponse__Output>
      ListHostsRequest: MessageTypeDefinition<_flotilla_v1_ListHostsRequest, _flotilla_v1_ListHostsRequest__Output>
      ListHostsResponse: MessageTypeDefinition<_flotilla_v1_ListHostsResponse, _flotilla_v1_ListHostsResponse__Output>
      Load: MessageTypeDefinition<_flotilla_v1_Load, _flotilla_v1_Load__Output>
      SignedDescriptor: MessageTypeDefinition<_flotilla_v1_SignedDescriptor, _flotilla_v1_SignedDescriptor__Output>
      UploadRequest: MessageTypeDefinition<_flotilla_v1_UploadRequest, _flotilla_v1_UploadRequest__Output>
      UploadResponse: MessageTypeDefinition<_flotilla_v1_UploadResponse, _flotilla_v1_UploadResponse__Output>
    }
  }
}

