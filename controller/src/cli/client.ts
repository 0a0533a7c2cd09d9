import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import {
  loadFlotillaProto,
  type CollectArtifactsRequest,
  type CollectArtifactsResponse__Output,
  type RemoveArtifactRequest,
  type RemoveArtifactResponse__Output,
  type DeployRequest,
  type DeployResponse__Output,
  type GetHistoryRequest,
  type GetHistoryResponse__Output,
  type GetRolloutRequest,
  type GetRolloutResponse__Output,
  type GetStatusRequest,
  type GetStatusResponse__Output,
  type ListArtifactsRequest,
  type ListArtifactsResponse__Output,
  type ListEventsRequest,
  type ListEventsResponse__Output,
  type ListHostsRequest,
  type ListHostsResponse__Output,
  type ListRolloutsRequest,
  type ListRolloutsResponse__Output,
  type RollbackRequest,
  type RollbackResponse__Output,
  type Rollout__Output,
  type RolloutCommandRequest,
  type RolloutCommandResponse__Output,
  type SignedDescriptor as SignedDescriptorMessage,
  type StartRolloutRequest,
  type StartRolloutResponse__Output,
  type WatchRolloutRequest,
  type WhoamiRequest,
  type WhoamiResponse__Output,
  type RevokeHostRequest,
  type RevokeHostResponse__Output,
  type UploadRequest,
  type UploadResponse__Output,
} from '@flotilla/proto';
import { ControllerError, ERROR_CODE_METADATA, UnavailableError, ValidationError, ipTargetTls, formatDuration, type FlotillaError } from '@flotilla/shared';

/** Bytes per upload message. Small enough to keep memory flat, large enough to keep overhead low. */
export const UPLOAD_CHUNK_BYTES = 256 * 1024;

export interface ConnectOptions {
  /** The controller's gRPC address, HOST:PORT. */
  readonly address: string;
  /** API token, sent as `authorization: Bearer <token>` when set. */
  readonly token?: string | undefined;
  /**
   * Deadline of each unary call; for an upload, the longest the controller may go without taking
   * more bytes (a whole upload may take longer than any fixed deadline).
   */
  readonly timeoutMs: number;
  /** TLS: the CA file the controller's certificate chains to, and a client certificate and key (files). */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string } | undefined;
}

/** The calls the CLI makes, as promises; every failure is already translated (see translateCallError). */
export interface ControllerClient {
  readonly address: string;
  listArtifacts(request: ListArtifactsRequest): Promise<ListArtifactsResponse__Output>;
  listHosts(request: ListHostsRequest): Promise<ListHostsResponse__Output>;
  getStatus(request: GetStatusRequest): Promise<GetStatusResponse__Output>;
  deploy(request: DeployRequest): Promise<DeployResponse__Output>;
  startRollout(request: StartRolloutRequest): Promise<StartRolloutResponse__Output>;
  getRollout(request: GetRolloutRequest): Promise<GetRolloutResponse__Output>;
  listRollouts(request: ListRolloutsRequest): Promise<ListRolloutsResponse__Output>;
  rolloutCommand(request: RolloutCommandRequest): Promise<RolloutCommandResponse__Output>;
  getHistory(request: GetHistoryRequest): Promise<GetHistoryResponse__Output>;
  rollback(request: RollbackRequest): Promise<RollbackResponse__Output>;
  listEvents(request: ListEventsRequest): Promise<ListEventsResponse__Output>;
  whoami(request: WhoamiRequest): Promise<WhoamiResponse__Output>;
  revokeHost(request: RevokeHostRequest): Promise<RevokeHostResponse__Output>;
  collectArtifacts(request: CollectArtifactsRequest): Promise<CollectArtifactsResponse__Output>;
  removeArtifact(request: RemoveArtifactRequest): Promise<RemoveArtifactResponse__Output>;
  /**
   * The rollout, then every change until it finishes (the stream then ends). No deadline: a
   * rollout may take hours. Failures arrive translated, as from the other calls.
   */
  watchRollout(request: WatchRolloutRequest): AsyncIterable<Rollout__Output>;
  /**
   * Client-streaming upload: the signed descriptor, then the artifact's bytes as they come.
   * `chunks` is read once per attempt: a client over several controllers that loses one mid-way
   * sends the whole release again to the next.
   */
  upload(header: SignedDescriptorMessage, chunks: ChunkSource): Promise<UploadResponse__Output>;
  close(): void;
}

/** The bytes of an upload, from the start each time it is called. */
export type ChunkSource = () => AsyncIterable<Buffer>;

export type ClientFactory = (options: ConnectOptions) => ControllerClient;

interface CallSite {
  address: string;
  method: string;
  timeoutMs: number;
  hasToken: boolean;
  /** Whether the channel had a live connection when the call failed. */
  connected: boolean;
}

/**
 * The one place where gRPC failures become what the operator reads. A failure to get a
 * connection at all means the controller is unreachable (exit 3); anything the controller itself
 * answered is its message, an operation failure (exit 1).
 */
export function translateCallError(err: grpc.ServiceError, site: CallSite): FlotillaError {
  const statusName = grpc.status[err.code] ?? `status ${err.code}`;
  const flotillaCode = firstMetadataValue(err.metadata, ERROR_CODE_METADATA);
  const details = (err.details ?? '').trim();
  // UNAVAILABLE that the controller sent on purpose (its NATS is down, say) carries its own code.
  if (err.code === grpc.status.UNAVAILABLE && flotillaCode === undefined) {
    return new UnavailableError(`cannot reach the controller at ${site.address}: ${connectFailure(details)}`, {
      cause: err,
      details: { address: site.address },
    });
  }
  if (err.code === grpc.status.DEADLINE_EXCEEDED && flotillaCode === undefined) {
    if (!site.connected) {
      return new UnavailableError(
        `cannot reach the controller at ${site.address}: no connection within ${formatDuration(site.timeoutMs)}`,
        { cause: err, details: { address: site.address } },
      );
    }
    return new ControllerError(
      'FLOTILLA_ERR_UNAVAILABLE',
      `the controller at ${site.address} did not answer ${site.method} within ${formatDuration(site.timeoutMs)} (raise --timeout?)`,
      statusName,
      { cause: err },
    );
  }
  if (err.code === grpc.status.UNAUTHENTICATED) {
    const hint = site.hasToken ? 'the token was refused' : 'pass --token or set FLOTILLA_API_TOKEN, or --tls-cert and --tls-key';
    return new ControllerError(
      flotillaCode ?? 'FLOTILLA_ERR_UNAUTHENTICATED',
      `${details || 'the controller requires an API token'} (${hint})`,
      statusName,
      { cause: err },
    );
  }
  if (err.code === grpc.status.UNIMPLEMENTED && flotillaCode === undefined) {
    return new ControllerError(
      'FLOTILLA_ERR_INTERNAL',
      `the controller at ${site.address} does not implement ${site.method} (${details || 'unimplemented'})`,
      statusName,
      { cause: err },
    );
  }
  return new ControllerError(
    flotillaCode ?? 'FLOTILLA_ERR_INTERNAL',
    details ? details : `${site.method} failed with ${statusName}`,
    statusName,
    { cause: err },
  );
}

/** grpc-js wraps the socket error in prose; the operator wants the socket error. */
function connectFailure(details: string): string {
  const m = /Last error: (?:Error: )?(.*?)(?:\.? Resolution note:.*)?$/s.exec(details);
  const reason = (m?.[1] ?? details).trim();
  return reason || 'no connection';
}

function firstMetadataValue(metadata: grpc.Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.toString('utf8');
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number';
}

/** TLS when a CA is given (with a client certificate when one is), plaintext otherwise. */
function channelCredentials(tls: ConnectOptions['tls'], address: string): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const ipTarget = ipTargetTls(address);
  const verify = ipTarget ? { checkServerIdentity: ipTarget.checkServerIdentity } : {};
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ValidationError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
    }
  };
  const ca = read(tls.ca, '--tls-ca');
  if (tls.cert && tls.key) return grpc.credentials.createSsl(ca, read(tls.key, '--tls-key'), read(tls.cert, '--tls-cert'), verify);
  return grpc.credentials.createSsl(ca, null, null, verify);
}

/** Channel options for TLS to an IP address (see ipTargetTls). */
function channelOptions(options: ConnectOptions): grpc.ChannelOptions {
  const ipTarget = options.tls ? ipTargetTls(options.address) : undefined;
  return ipTarget ? { 'grpc.ssl_target_name_override': ipTarget.servernameOverride } : {};
}

/** A gRPC client for the controller's Control and Artifacts services, sharing one channel. */
export function createControllerClient(options: ConnectOptions): ControllerClient {
  const proto = loadFlotillaProto();
  const credentials = channelCredentials(options.tls, options.address);
  const control = new proto.Control(options.address, credentials, channelOptions(options));
  const artifacts = new proto.Artifacts(options.address, credentials, { channelOverride: control.getChannel() });

  const connected = (): boolean =>
    control.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;

  const metadata = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    if (options.token) md.set('authorization', `Bearer ${options.token}`);
    return md;
  };

  const translate = (err: unknown, method: string): unknown =>
    isServiceError(err)
      ? translateCallError(err, {
          address: options.address,
          method,
          timeoutMs: options.timeoutMs,
          hasToken: Boolean(options.token),
          connected: connected(),
        })
      : err;

  // Fail fast (no waitForReady): an operator mid-incident should hear at once that nothing
  // answers at the address, not after the whole deadline.
  const unary = <Res>(
    method: string,
    invoke: (md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => unknown,
  ): Promise<Res> =>
    new Promise<Res>((resolve, reject) => {
      invoke(metadata(), { deadline: Date.now() + options.timeoutMs }, (err, response) => {
        if (err) reject(translate(err, method));
        else if (response === undefined) reject(new ControllerError('FLOTILLA_ERR_INTERNAL', `${method}: empty answer`, 'OK'));
        else resolve(response);
      });
    });

  return {
    address: options.address,
    listArtifacts: (request) => unary('ListArtifacts', (md, opts, cb) => control.ListArtifacts(request, md, opts, cb)),
    listHosts: (request) => unary('ListHosts', (md, opts, cb) => control.ListHosts(request, md, opts, cb)),
    getStatus: (request) => unary('GetStatus', (md, opts, cb) => control.GetStatus(request, md, opts, cb)),
    deploy: (request) => unary('Deploy', (md, opts, cb) => control.Deploy(request, md, opts, cb)),
    startRollout: (request) => unary('StartRollout', (md, opts, cb) => control.StartRollout(request, md, opts, cb)),
    getRollout: (request) => unary('GetRollout', (md, opts, cb) => control.GetRollout(request, md, opts, cb)),
    listRollouts: (request) => unary('ListRollouts', (md, opts, cb) => control.ListRollouts(request, md, opts, cb)),
    rolloutCommand: (request) => unary('RolloutCommand', (md, opts, cb) => control.RolloutCommand(request, md, opts, cb)),
    getHistory: (request) => unary('GetHistory', (md, opts, cb) => control.GetHistory(request, md, opts, cb)),
    rollback: (request) => unary('Rollback', (md, opts, cb) => control.Rollback(request, md, opts, cb)),
    listEvents: (request) => unary('ListEvents', (md, opts, cb) => control.ListEvents(request, md, opts, cb)),
    whoami: (request) => unary('Whoami', (md, opts, cb) => control.Whoami(request, md, opts, cb)),
    revokeHost: (request) => unary('RevokeHost', (md, opts, cb) => control.RevokeHost(request, md, opts, cb)),
    collectArtifacts: (request) => unary('CollectArtifacts', (md, opts, cb) => control.CollectArtifacts(request, md, opts, cb)),
    removeArtifact: (request) => unary('RemoveArtifact', (md, opts, cb) => control.RemoveArtifact(request, md, opts, cb)),
    watchRollout: (request) => ({
      async *[Symbol.asyncIterator]() {
        const call = control.WatchRollout(request, metadata());
        try {
          for await (const rollout of call) yield rollout as Rollout__Output;
        } catch (err) {
          throw translate(err, 'WatchRollout');
        } finally {
          call.cancel();
        }
      },
    }),
    upload: (header, chunks) =>
      streamUpload({
        open: (cb) => artifacts.Upload(metadata(), {}, cb),
        header,
        chunks: chunks(),
        idleMs: options.timeoutMs,
        translate: (err) => translate(err, 'Upload'),
        stalled: () =>
          connected()
            ? new ControllerError(
                'FLOTILLA_ERR_UNAVAILABLE',
                `the controller at ${options.address} took no upload bytes for ${formatDuration(options.timeoutMs)}`,
                'CANCELLED',
              )
            : new UnavailableError(
                `cannot reach the controller at ${options.address}: no connection within ${formatDuration(options.timeoutMs)}`,
              ),
      }),
    close: () => {
      artifacts.close();
      control.close();
    },
  };
}

interface StreamUploadOptions {
  open: (cb: grpc.requestCallback<UploadResponse__Output>) => grpc.ClientWritableStream<UploadRequest>;
  header: SignedDescriptorMessage;
  chunks: AsyncIterable<Buffer>;
  idleMs: number;
  translate: (err: unknown) => unknown;
  stalled: () => Error;
}

/**
 * Writes the header and then every chunk, waiting for 'drain' whenever write() says the buffer is
 * full. The controller may end the call early (a refused signature): then 'drain' never comes, so
 * each wait also ends when the call does, and the controller's answer is what we report.
 */
async function streamUpload(o: StreamUploadOptions): Promise<UploadResponse__Output> {
  let finished = false;
  let call: grpc.ClientWritableStream<UploadRequest> | undefined;
  const answer = new Promise<UploadResponse__Output>((resolve, reject) => {
    call = o.open((err, response) => {
      finished = true;
      if (err) reject(o.translate(err));
      else if (response === undefined) reject(new ControllerError('FLOTILLA_ERR_INTERNAL', 'Upload: empty answer', 'OK'));
      else resolve(response);
    });
  });
  const ended = answer.then(
    () => undefined,
    () => undefined,
  );
  const stream = call as grpc.ClientWritableStream<UploadRequest>;

  let timer: NodeJS.Timeout | undefined;
  let stallError: Error | undefined;
  let onStall: (err: Error) => void = () => {};
  const stall = new Promise<never>((_, reject) => {
    onStall = reject;
  });
  stall.catch(() => {});
  const progress = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stallError = o.stalled();
      onStall(stallError);
      stream.cancel();
    }, o.idleMs);
  };

  const send = async (message: UploadRequest): Promise<void> => {
    if (stream.write(message)) return;
    const abort = new AbortController();
    try {
      await Promise.race([once(stream, 'drain', { signal: abort.signal }), ended, stall]);
    } finally {
      abort.abort();
    }
  };

  try {
    progress();
    await send({ header: o.header });
    for await (const chunk of o.chunks) {
      if (finished) break;
      await send({ chunk });
      progress();
    }
    stream.end();
    return await Promise.race([answer, stall]);
  } catch (err) {
    if (err === stallError || !finished) {
      stream.cancel();
      throw err;
    }
    // The controller ended the call first: its own answer explains the failure best.
    return await answer;
  } finally {
    clearTimeout(timer);
  }
}
