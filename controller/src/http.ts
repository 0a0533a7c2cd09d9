import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { UnavailableError, errorMessage, type Logger } from '@flotilla/shared';
import type { ListenAddress } from './config.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Handles one request; whatever it throws becomes a 500 JSON answer. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The controller's HTTP side: a table of exact-path routes (health, metrics, the alert
 * webhooks), JSON answers, 404/405 for anything else.
 */
/** The certificate source HTTPS serves from (the controller's ReloadableTls). */
export interface HttpTlsSource {
  readonly current: { readonly cert: Buffer; readonly key: Buffer };
  addIdentityCertificateListener(listener: (u: { certificate: Buffer; privateKey: Buffer } | null) => void): void;
}

export class HttpServer {
  private readonly routes = new Map<string, Map<HttpMethod, RouteHandler>>();
  private server: Server | undefined;

  constructor(private readonly logger: Logger) {}

  route(method: HttpMethod, path: string, handler: RouteHandler): this {
    const byMethod = this.routes.get(path) ?? new Map<HttpMethod, RouteHandler>();
    byMethod.set(method, handler);
    this.routes.set(path, byMethod);
    return this;
  }

  /**
   * Binds and returns the real port (port 0 asks for a free one). With `tls`, serves HTTPS with
   * its certificate, and takes a reloaded one for new connections.
   */
  async listen(listen: ListenAddress, tls?: HttpTlsSource): Promise<number> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.dispatch(req, res);
    const server: Server = tls
      ? createTlsServer({ cert: tls.current.cert, key: tls.current.key }, handler)
      : createServer(handler);
    if (tls) {
      const https = server as ReturnType<typeof createTlsServer>;
      tls.addIdentityCertificateListener((u) => {
        if (u) https.setSecureContext({ cert: u.certificate, key: u.privateKey });
      });
    }
    // Keep-alive sockets of scrapers must not hold a shutdown open.
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new UnavailableError(`cannot listen for HTTP on ${listen.host}:${listen.port}: ${errorMessage(err)}`, { cause: err })),
      );
      server.listen(listen.port, listen.host, () => resolve());
    });
    this.server = server;
    const port = (server.address() as AddressInfo).port;
    this.logger.info({ host: listen.host, port, tls: tls !== undefined }, 'HTTP listening');
    return port;
  }

  /** Stops accepting connections; after `graceMs` closes the ones still open. */
  async close(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://controller').pathname;
    const byMethod = this.routes.get(path);
    if (!byMethod) {
      sendJson(res, 404, { error: 'not found', path });
      return;
    }
    const handler = byMethod.get((req.method ?? 'GET') as HttpMethod);
    if (!handler) {
      res.setHeader('allow', [...byMethod.keys()].join(', '));
      sendJson(res, 405, { error: 'method not allowed', path, method: req.method });
      return;
    }
    try {
      await handler(req, res);
    } catch (err) {
      this.logger.error({ path, err }, 'HTTP handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error', message: errorMessage(err) });
      else res.end();
    }
  }
}

export function sendJson(res: ServerResponse, statusCode: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
