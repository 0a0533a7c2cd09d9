import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ControllerError, UnavailableError } from '@flotilla/shared';
import { translateCallError } from './client.js';
import { exitCodeFor } from './errors.js';

function serviceError(code: grpc.status, details: string, flotillaCode?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (flotillaCode) metadata.set('flotilla-error-code', flotillaCode);
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

const site = { address: '10.0.0.1:7400', method: 'ListHosts', timeoutMs: 30_000, hasToken: false, connected: false };

describe('translateCallError', () => {
  it('no connection: exit 3, naming the address and the socket error', () => {
    const err = translateCallError(
      serviceError(
        grpc.status.UNAVAILABLE,
        'No connection established. Last error: Error: connect ECONNREFUSED 10.0.0.1:7400. Resolution note: ',
      ),
      site,
    );
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toBe('cannot reach the controller at 10.0.0.1:7400: connect ECONNREFUSED 10.0.0.1:7400');
    expect(exitCodeFor(err)).toBe(3);
  });

  it('deadline before any connection: unreachable (exit 3); after connecting: the controller is slow (exit 1)', () => {
    const deadline = serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded after 30.001s');
    const never = translateCallError(deadline, site);
    expect(never.message).toBe('cannot reach the controller at 10.0.0.1:7400: no connection within 30.0s');
    expect(exitCodeFor(never)).toBe(3);
    const slow = translateCallError(deadline, { ...site, connected: true });
    expect(slow.message).toBe('the controller at 10.0.0.1:7400 did not answer ListHosts within 30.0s (raise --timeout?)');
    expect(exitCodeFor(slow)).toBe(1);
  });

  it('UNAVAILABLE sent by the controller itself is its refusal (exit 1), not a network failure', () => {
    const err = translateCallError(
      serviceError(grpc.status.UNAVAILABLE, 'NATS is not connected', 'FLOTILLA_ERR_UNAVAILABLE'),
      { ...site, connected: true },
    );
    expect(err).toBeInstanceOf(ControllerError);
    expect(err.message).toBe('NATS is not connected');
    expect(exitCodeFor(err)).toBe(1);
  });

  it.each([
    [grpc.status.INVALID_ARGUMENT, 'FLOTILLA_ERR_VALIDATION'],
    [grpc.status.NOT_FOUND, 'FLOTILLA_ERR_NOT_FOUND'],
    [grpc.status.PERMISSION_DENIED, 'FLOTILLA_ERR_SIGNATURE'],
    [grpc.status.ALREADY_EXISTS, 'FLOTILLA_ERR_CONFLICT'],
  ])('status %s keeps the controller’s message and code, exit 1', (code, flotillaCode) => {
    const err = translateCallError(serviceError(code, 'what the controller said', flotillaCode), { ...site, connected: true });
    expect(err.message).toBe('what the controller said');
    expect(err.code).toBe(flotillaCode);
    expect((err as ControllerError).status).toBe(grpc.status[code]);
    expect(exitCodeFor(err)).toBe(1);
  });

  it('a status without details still says which call failed and how', () => {
    const err = translateCallError(serviceError(grpc.status.INTERNAL, ''), { ...site, connected: true });
    expect(err.message).toBe('ListHosts failed with INTERNAL');
  });

  it('UNIMPLEMENTED from a controller that lacks the call says so', () => {
    const err = translateCallError(serviceError(grpc.status.UNIMPLEMENTED, 'The server does not implement the method /flotilla.v1.Control/ListHosts'), { ...site, connected: true });
    expect(err.message).toMatch(/^the controller at 10\.0\.0\.1:7400 does not implement ListHosts/);
  });
});
