import { Server, ServerCredentials, experimental, type ServerOptions } from '@grpc/grpc-js';
import { loadFlotillaProto, type ArtifactsHandlers, type ControlHandlers } from '@flotilla/proto';
import { UnavailableError, errorMessage, type Logger } from '@flotilla/shared';
import type { ListenAddress } from '../config.js';
import { artifactsServiceDefinition } from './artifacts-service.js';
import type { ReloadableTls } from '../tls/reloadable.js';
import { withGuard, type CallGuard } from './guard.js';

/**
 * Upload and download chunks are at most 4 MiB of data; the limit leaves room for the message
 * framing and the header message's descriptor and signature.
 */
export const GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024;

/** HTTP/2 streams one gRPC connection may have open at once. */
export const GRPC_STREAMS_PER_CONNECTION = 100;

export const GRPC_SERVER_OPTIONS: ServerOptions = Object.freeze({
  'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': GRPC_MAX_MESSAGE_BYTES,
  // Hosts keep a channel open between downloads; server pings find connections that died
  // silently (a host that vanished mid-download) instead of holding them for hours.
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  // HTTP/2 streams one connection may open at once. Per connection only: the overall and
  // per-peer counts that a caller with many connections cannot dodge are StreamLimits'.
  'grpc.max_concurrent_streams': GRPC_STREAMS_PER_CONNECTION,
});

export interface GrpcHandlers {
  artifacts: ArtifactsHandlers;
  control: ControlHandlers;
}

/** Who may call what (guards), and the TLS certificates when the listener uses TLS. */
export interface GrpcSecurity {
  guards: { artifacts: CallGuard; control: CallGuard };
  /** Client certificates are asked for but not required: operators may use tokens instead. */
  tls?: ReloadableTls | undefined;
}

/** A bound gRPC server and the port it really got (port 0 asks for a free one). */
export interface RunningGrpcServer {
  readonly port: number;
  /** Stops taking calls; after `graceMs` cuts the ones still in flight. */
  close(graceMs: number): Promise<void>;
}

export async function startGrpcServer(
  listen: ListenAddress,
  handlers: GrpcHandlers,
  security: GrpcSecurity,
  logger: Logger,
): Promise<RunningGrpcServer> {
  const proto = loadFlotillaProto();
  const server = new Server(GRPC_SERVER_OPTIONS);
  server.addService(artifactsServiceDefinition(proto.Artifacts.service), withGuard(handlers.artifacts, security.guards.artifacts));
  server.addService(proto.Control.service, withGuard(handlers.control, security.guards.control));
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const credentials = security.tls
    ? experimental.createCertificateProviderServerCredentials(security.tls, security.tls, false)
    : ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${listen.port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  }).catch((err: unknown) => {
    throw new UnavailableError(`cannot listen for gRPC on ${host}:${listen.port}: ${errorMessage(err)}`, { cause: err });
  });
  logger.info({ host: listen.host, port, tls: security.tls !== undefined }, 'gRPC listening');
  return {
    port,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ graceMs }, 'gRPC calls still running at shutdown; cutting them');
          server.forceShutdown();
          resolve();
        }, graceMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
