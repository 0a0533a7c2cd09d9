// Original file: flotilla.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DeployRequest as _flotilla_v1_DeployRequest, DeployRequest__Output as _flotilla_v1_DeployRequest__Output } from '../../flotilla/v1/DeployRequest.js';
import type { DeployResponse as _flotilla_v1_DeployResponse, DeployResponse__Output as _flotilla_v1_DeployResponse__Output } from '../../flotilla/v1/DeployResponse.js';
import type { GetStatusRequest as _flotilla_v1_GetStatusRequest, GetStatusRequest__Output as _flotilla_v1_GetStatusRequest__Output } from '../../flotilla/v1/GetStatusRequest.js';
import type { GetStatusResponse as _flotilla_v1_GetStatusResponse, GetStatusResponse__Output as _flotilla_v1_GetStatusResponse__Output } from '../../flotilla/v1/GetStatusResponse.js';
import type { ListArtifactsRequest as _flotilla_v1_ListArtifactsRequest, ListArtifactsRequest__Output as _flotilla_v1_ListArtifactsRequest__Output } from '../../flotilla/v1/ListArtifactsRequest.js';
import type { ListArtifactsResponse as _flotilla_v1_ListArtifactsResponse, ListArtifactsResponse__Output as _flotilla_v1_ListArtifactsResponse__Output } from '../../flotilla/v1/ListArtifactsResponse.js';
import type { ListHostsRequest as _flotilla_v1_ListHostsRequest, ListHostsRequest__Output as _flotilla_v1_ListHostsRequest__Output } from '../../flotilla/v1/ListHostsRequest.js';
import type { ListHostsResponse as _flotilla_v1_ListHostsResponse, ListHostsResponse__Output as _flotilla_v1_ListHostsResponse__Output } from '../../flotilla/v1/ListHostsResponse.js';

export interface ControlClient extends grpc.Client {
  Deploy(argument: _flotilla_v1_DeployRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  Deploy(argument: _flotilla_v1_DeployRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  Deploy(argument: _flotilla_v1_DeployRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  Deploy(argument: _flotilla_v1_DeployRequest, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  deploy(argument: _flotilla_v1_DeployRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  deploy(argument: _flotilla_v1_DeployRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  deploy(argument: _flotilla_v1_DeployRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  deploy(argument: _flotilla_v1_DeployRequest, callback: grpc.requestCallback<_flotilla_v1_DeployResponse__Output>): grpc.ClientUnaryCall;
  
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
  
  ListHosts(argument: _flotilla_v1_ListHostsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  ListHosts(argument: _flotilla_v1_ListHostsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  ListHosts(argument: _flotilla_v1_ListHostsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  ListHosts(argument: _flotilla_v1_ListHostsRequest, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  listHosts(argument: _flotilla_v1_ListHostsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  listHosts(argument: _flotilla_v1_ListHostsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  listHosts(argument: _flotilla_v1_ListHostsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  listHosts(argument: _flotilla_v1_ListHostsRequest, callback: grpc.requestCallback<_flotilla_v1_ListHostsResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface ControlHandlers extends grpc.UntypedServiceImplementation {
  Deploy: grpc.handleUnaryCall<_flotilla_v1_DeployRequest__Output, _flotilla_v1_DeployResponse>;
  
  GetStatus: grpc.handleUnaryCall<_flotilla_v1_GetStatusRequest__Output, _flotilla_v1_GetStatusResponse>;
  
  ListArtifacts: grpc.handleUnaryCall<_flotilla_v1_ListArtifactsRequest__Output, _flotilla_v1_ListArtifactsResponse>;
  
  ListHosts: grpc.handleUnaryCall<_flotilla_v1_ListHostsRequest__Output, _flotilla_v1_ListHostsResponse>;
  
}

export interface ControlDefinition extends grpc.ServiceDefinition {
  Deploy: MethodDefinition<_flotilla_v1_DeployRequest, _flotilla_v1_DeployResponse, _flotilla_v1_DeployRequest__Output, _flotilla_v1_DeployResponse__Output>
  GetStatus: MethodDefinition<_flotilla_v1_GetStatusRequest, _flotilla_v1_GetStatusResponse, _flotilla_v1_GetStatusRequest__Output, _flotilla_v1_GetStatusResponse__Output>
  ListArtifacts: MethodDefinition<_flotilla_v1_ListArtifactsRequest, _flotilla_v1_ListArtifactsResponse, _flotilla_v1_ListArtifactsRequest__Output, _flotilla_v1_ListArtifactsResponse__Output>
  ListHosts: MethodDefinition<_flotilla_v1_ListHostsRequest, _flotilla_v1_ListHostsResponse, _flotilla_v1_ListHostsRequest__Output, _flotilla_v1_ListHostsResponse__Output>
}
