import { connect, type NatsConnection } from '@nats-io/transport-node';
import { UnavailableError, errorMessage, natsTlsOption, type Logger } from '@flotilla/shared';
import type { ControllerConfig } from './config.js';

export type NatsState = 'connected' | 'disconnected' | 'closed';

/** The controller's NATS connection and whether it is up right now (for /healthz). */
export interface NatsLink {
  readonly nc: NatsConnection;
  state(): NatsState;
  /** Calls `listener` on every change of state; returns the unsubscribe function. */
  onStateChange(listener: (state: NatsState) => void): () => void;
}

/**
 * Connects to NATS (failing start when the first connection does not come up in time) and
 * then reconnects forever: a controller outlives NATS restarts, and /healthz says when it is cut off.
 */
export async function connectNats(settings: ControllerConfig['nats'], logger: Logger, name = 'flotilla-controller'): Promise<NatsLink> {
  let nc: NatsConnection;
  const tls = natsTlsOption(settings.tls);
  try {
    nc = await connect({
      servers: [...settings.servers],
      name,
      ...(tls ? { tls } : {}),
      ...(settings.user ? { user: settings.user } : {}),
      ...(settings.password ? { pass: settings.password } : {}),
      ...(settings.token ? { token: settings.token } : {}),
      timeout: settings.connectTimeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      // Otherwise every request (each KV get and write) builds two Error objects up front for
      // their stack traces: a tenth of the controller's time while 25,000 hosts register.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new UnavailableError(`cannot connect to NATS at ${settings.servers.join(', ')}: ${errorMessage(err)}`, { cause: err });
  }
  let state: NatsState = 'connected';
  const listeners = new Set<(state: NatsState) => void>();
  const set = (next: NatsState) => {
    if (next === state) return;
    state = next;
    for (const l of listeners) l(next);
  };
  logger.info({ server: nc.getServer() }, 'NATS connected');
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          set('disconnected');
          logger.warn({ server: s.server }, 'NATS disconnected');
          break;
        case 'reconnect':
          set('connected');
          logger.info({ server: s.server }, 'NATS reconnected');
          break;
        case 'error':
          logger.warn({ err: s.error }, 'NATS error');
          break;
        default:
          break;
      }
    }
  })().catch(() => undefined);
  void nc.closed().then(() => set('closed'));
  return {
    nc,
    state: () => (nc.isClosed() ? 'closed' : state),
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
