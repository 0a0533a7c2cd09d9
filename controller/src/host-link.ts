import type { Logger } from '@flotilla/shared';
import type { ControllerConfig } from './config.js';
import { connectNats, type NatsLink } from './nats.js';

/**
 * The host-facing NATS connection: it hears announces, heartbeats and sync requests and sends
 * assignments and sync replies, and nothing else. A host chooses the reply subject of its own
 * requests, so the connection that answers must be one whose NATS user cannot publish to
 * `$JS.>` or `$KV.>`: then no reply, even a wrongly checked one, can become a JetStream API
 * call. The main connection keeps the JetStream rights and never answers a host.
 */
export async function connectHostFacing(settings: ControllerConfig['nats'], logger: Logger): Promise<NatsLink> {
  const own = settings.hostFacing;
  if (own === undefined) {
    logger.warn(
      { user: settings.user },
      'nats.hostFacing is not set: hosts are answered under the main NATS user; only the reply-subject check keeps their replies off JetStream',
    );
  }
  const credentials = own ?? { user: settings.user, password: settings.password, token: settings.token };
  const { user: _u, password: _p, token: _t, ...rest } = settings;
  return connectNats(
    {
      ...rest,
      ...(credentials.user !== undefined ? { user: credentials.user } : {}),
      ...(credentials.password !== undefined ? { password: credentials.password } : {}),
      ...(credentials.token !== undefined ? { token: credentials.token } : {}),
    },
    logger,
    'flotilla-controller-hosts',
  );
}
