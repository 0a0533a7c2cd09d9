// Original file: flotilla.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DownloadChunk as _flotilla_v1_DownloadChunk, DownloadChunk__Output as _flotilla_v1_DownloadChunk__Output } from '../../flotilla/v1/DownloadChunk.js';
import type { DownloadRequest as _flotilla_v1_DownloadRequest, DownloadRequest__Output as _flotilla_v1_DownloadRequest__Output } from '../../flotilla/v1/DownloadRequest.js';
import type { UploadRequest as _flotilla_v1_UploadRequest, UploadRequest__Output as _flotilla_v1_UploadRequest__Output } from '../../flotilla/v1/UploadRequest.js';
import type { UploadResponse as _flotilla_v1_UploadResponse, UploadResponse__Output as _flotilla_v1_UploadResponse__Output } from '../../flotilla/v1/UploadResponse.js';

export interface ArtifactsClient extends grpc.Client {
  Download(argument: _flotilla_v1_DownloadRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_v1_DownloadChunk__Output>;
  Download(argument: _flotilla_v1_DownloadRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_v1_DownloadChunk__Output>;
  download(argument: _flotilla_v1_DownloadRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_v1_DownloadChunk__Output>;
  download(argument: _flotilla_v1_DownloadRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_flotilla_v1_DownloadChunk__Output>;
  
  Upload(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_UploadResponse__Output>): grpc.ClientWritableStream<_flotilla_v1_UploadRequest>;
  Upload(metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_UploadResponse__Output>): grpc.ClientWritableStream<_flotilla_v1_UploadRequest>;
  Upload(options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_UploadResponse__Output>): grpc.ClientWritableStream<_flotilla_v1_UploadRequest>;
  Upload(callback: grpc.requestCallback<_flotilla_v1_UploadResponse__Output>): grpc.ClientWritableStream<_flotilla_v1_UploadRequest>;
  upload(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_UploadResponse__Output>): grpc.ClientWritableStream<_flotilla_v1_UploadRequest>;
  upload(metadata: grpc.Metadata, callback: grpc.requestCallback<_flotilla_v1_UploadResponse__Output>): grpc.ClientWritableStream<_flotilla_v1_UploadRequest>;
  upload(options: grpc.CallOptions, callback: grpc.requestCallback<_flotilla_v1_UploadResponse__Output>): grpc.ClientWritableStream<_flotilla_v1_UploadRequest>;
  upload(callback: grpc.requestCallback<_flotilla_v1_UploadResponse__Output>): grpc.ClientWritableStream<_flotilla_v1_UploadRequest>;
  
}

export interface ArtifactsHandlers extends grpc.UntypedServiceImplementation {
  Download: grpc.handleServerStreamingCall<_flotilla_v1_DownloadRequest__Output, _flotilla_v1_DownloadChunk>;
  
  Upload: grpc.handleClientStreamingCall<_flotilla_v1_UploadRequest__Output, _flotilla_v1_UploadResponse>;
  
}

export interface ArtifactsDefinition extends grpc.ServiceDefinition {
  Download: MethodDefinition<_flotilla_v1_DownloadRequest, _flotilla_v1_DownloadChunk, _flotilla_v1_DownloadRequest__Output, _flotilla_v1_DownloadChunk__Output>
  Upload: MethodDefinition<_flotilla_v1_UploadRequest, _flotilla_v1_UploadResponse, _flotilla_v1_UploadRequest__Output, _flotilla_v1_UploadResponse__Output>
}
