import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, UnauthenticatedError, UnavailableError, UnsupportedMediaTypeError, ValidationError } from '@flotilla/shared';
import type { z } from 'zod';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The webhooks' bearer-token check. Without a configured token the webhooks are off (they answer
 * 503: a monitor pointed at an unconfigured controller should keep retrying, not give up).
 * Tokens are compared as SHA-256 digests with timingSafeEqual: equal lengths whatever the caller
 * sent, and no early exit that tells how much of a guess was right.
 */
export function bearerCheck(token: string | undefined): (req: IncomingMessage) => void {
  if (!token) {
    return () => {
      throw new UnavailableError('alert webhooks are disabled: set alerts.token (FLOTILLA_ALERTS_TOKEN) in the controller config');
    };
  }
  const expected = digest(token);
  return (req) => {
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (!m) throw new UnauthenticatedError('alert webhooks need a token: send the header "Authorization: Bearer <token>"');
    if (!timingSafeEqual(digest(m[1] as string), expected)) {
      throw new UnauthenticatedError('the bearer token is not valid for this controller');
    }
  };
}

/** Only `application/json` (charset, when given, UTF-8): Alertmanager sends exactly that. */
export function checkJsonContentType(req: IncomingMessage): void {
  const header = req.headers['content-type'];
  if (header === undefined) {
    throw new UnsupportedMediaTypeError('the body must be JSON: send the header "Content-Type: application/json"');
  }
  const [type, ...params] = header.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'application/json') {
    throw new UnsupportedMediaTypeError(`the body must be JSON (Content-Type: application/json), not ${JSON.stringify(type ?? '')}`);
  }
  const charset = params.map((p) => /^charset=("?)([^"]*)\1$/.exec(p)?.[2]).find((c) => c !== undefined);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new UnsupportedMediaTypeError(`the body must be UTF-8 JSON, not charset ${JSON.stringify(charset)}`);
  }
}

/**
 * Reads the body, keeping at most `maxBytes` in memory. A declared Content-Length over the limit
 * is refused before a byte is read; a body that grows past it is refused the moment it does.
 * Either way the caller answers at once and then calls `discardBody`.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw new BodyTooLargeError(`the body is ${declared} bytes; the limit is ${maxBytes} (alerts.maxBodyBytes)`);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      req.off('close', onAborted);
      fn();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        chunks.length = 0;
        settle(() => reject(new BodyTooLargeError(`the body is over the limit of ${maxBytes} bytes (alerts.maxBodyBytes)`)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle(() => resolve(Buffer.concat(chunks, size)));
    const onError = (err: Error) => settle(() => reject(new ValidationError(`the request body could not be read: ${err.message}`, { cause: err })));
    const onAborted = () => settle(() => reject(new ValidationError('the client went away before sending the whole body')));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
    // A connection that closes before the end of the body would otherwise leave this pending.
    req.on('close', onAborted);
  });
}

/**
 * After an early answer (401, 413...), lets the rest of the body arrive and throws it away, up to
 * `capBytes`; past that the connection is cut. Closing at once instead would make the kernel
 * reset the connection while the client is still sending, and a reset can destroy the answer
 * before the client reads it. Nothing is kept, so memory stays bounded either way.
 */
export function discardBody(req: IncomingMessage, capBytes: number): void {
  if (req.complete || req.destroyed) return;
  let discarded = 0;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > capBytes) req.destroy();
  });
  req.on('error', () => undefined);
  req.resume();
}

/** Parses UTF-8 JSON; the error names the fault (and its position, as the parser reports it). */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new ValidationError('the body is empty: expected a JSON object');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new ValidationError('the body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ValidationError(`the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** `alerts[0].labels.app` from zod's path. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(body)' : out;
}

const MAX_ISSUES_IN_MESSAGE = 3;

/** What was at `path` in the input; undefined when a step is missing. */
function valueAt(value: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur = value;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null || !Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function expected(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return issue.expected;
  if (issue.code === 'invalid_value') return issue.values.map((v) => JSON.stringify(v)).join(' or ');
  return issue.message;
}

/**
 * Validates `value`; on failure throws a ValidationError whose message names the first few fields
 * at fault (`what: field: problem; ...`) and whose details list them all (values not included).
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    field: fieldPath(i.path),
    problem: i.path.length > 0 && valueAt(value, i.path) === undefined ? `is required (${expected(i)})` : i.message,
  }));
  const shown = issues
    .slice(0, MAX_ISSUES_IN_MESSAGE)
    .map((i) => `${i.field}: ${i.problem}`)
    .join('; ');
  const more = issues.length > MAX_ISSUES_IN_MESSAGE ? ` (and ${issues.length - MAX_ISSUES_IN_MESSAGE} more)` : '';
  throw new ValidationError(`${what} is invalid: ${shown}${more}`, { details: { issues: issues.slice(0, 20) } });
}
