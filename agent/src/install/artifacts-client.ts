import * as grpc from '@grpc/grpc-js';
import { loadFlotillaProto, type ArtifactsClient } from '@flotilla/proto';

/** Options of the gRPC channel to the controller. */
export interface ArtifactsClientOptions {
  /** @default insecure (plain TCP) */
  credentials?: grpc.ChannelCredentials;
  /** Merged over DEFAULT_CHANNEL_OPTIONS. */
  channelOptions?: grpc.ChannelOptions;
}

export const DEFAULT_CHANNEL_OPTIONS: Readonly<grpc.ChannelOptions> = Object.freeze({
  // Chunks are 256 KiB by default and tunable on the controller; leave ample room.
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc-node.flow_control_window': 8 * 1024 * 1024,
  // Pings only while a call is open, so a half-dead connection fails a download within a minute
  // or so instead of hanging it.
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 10_000,
});

/**
 * A client of the controller's Artifacts service. The loaded Download deserializer already hands
 * out `data` as a view of the received message, not a copy (download.test.ts holds it to that).
 */
export function createArtifactsClient(address: string, opts: ArtifactsClientOptions = {}): ArtifactsClient {
  const { Artifacts } = loadFlotillaProto();
  return new Artifacts(address, opts.credentials ?? grpc.credentials.createInsecure(), {
    ...DEFAULT_CHANNEL_OPTIONS,
    ...opts.channelOptions,
  });
}
