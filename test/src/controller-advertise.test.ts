import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from './agent-process.js';
import { ControllerFixture } from './controller-fixture.js';
import { runCli } from './fleet.js';

// A controller tells others the address it is reached at (`--advertise`), with each listener's
// port, wherever it describes itself: /healthz and `flotilla status`.
let fixture: ControllerFixture;

beforeAll(async () => {
  fixture = await ControllerFixture.start({ name: 'advertise', args: ['--advertise', 'ctl-1.example'] });
});

afterAll(async () => {
  await fixture?.stop();
});

const portOf = (address: string) => address.slice(address.lastIndexOf(':') + 1);

describe('advertise', () => {
  it('publishes the advertised host with each listener port in /healthz and flotilla status', async () => {
    const { controller } = fixture;
    const grpcPort = portOf(controller.grpc);
    const httpPort = portOf(controller.http);
    const health = await httpGet(Number(httpPort), '/healthz', 5000);
    const body = JSON.parse(health.body) as { cluster: { self: string; controllers: { id: string; grpc: string; http: string }[] } };
    const self = body.cluster.controllers.find((c) => c.id === body.cluster.self);
    expect(self, health.body).toMatchObject({ grpc: `ctl-1.example:${grpcPort}`, http: `ctl-1.example:${httpPort}` });

    const status = await runCli(['status', '--json'], { controller: controller.grpc });
    expect(status.code, status.stderr).toBe(0);
    const listed = (JSON.parse(status.stdout) as { cluster: { controllers: { grpc: string; http: string }[] } }).cluster.controllers;
    expect(listed.map((c) => [c.grpc, c.http])).toEqual([[`ctl-1.example:${grpcPort}`, `ctl-1.example:${httpPort}`]]);
  });
});
