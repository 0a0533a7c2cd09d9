// The NATS half of "each host only what it needs", against a real nats-server running the
// authorization `flotilla nats config` generates: a host cannot turn the controller's sync
// reply into a JetStream call, cannot listen on another host's subjects, and reads only its
// own replies.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSIGNMENT_SHARDS, BUCKETS, natsAuthorizationBlock, shardIndex } from '@flotilla/controller';
import { subjects } from '@flotilla/shared';
import {
  ControllerProcess,
  FakeHost,
  controllerClients,
  controllerTestDir,
  httpGetText,
  releaseTarball,
  signArtifact,
  uploadArtifact,
  waitUntil,
  type ControllerClients,
} from './controller-process.js';
import { writeKeyPair, type TestKeyPair } from './keys.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const PASSWORDS = {
  controller: 'ctl-secret-1',
  hosts: 'ctl-hosts-secret-2',
  'web-01': 'web-01-secret-3',
  'web-02': 'web-02-secret-4',
};
const s = subjects('flotilla');

let nats: NatsServer;
let dir: string;
let controller: ControllerProcess;
let clients: ControllerClients;
let release: TestKeyPair;
let admin: NatsConnection;
const opened: NatsConnection[] = [];

/** A raw connection as one NATS user; `inboxPrefix` as an agent sets it. */
async function connectAs(user: string, pass: string, inboxPrefix?: string): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, user, pass, ...(inboxPrefix ? { inboxPrefix } : {}) });
  opened.push(nc);
  return nc;
}

/** Subscribes and resolves with the error the server closes the subscription with (or 'open'). */
async function subscribeOutcome(nc: NatsConnection, subject: string): Promise<string> {
  const sub = nc.subscribe(subject);
  const closed = sub.closed.then((e) => (e instanceof Error ? e.message : 'closed'));
  await nc.flush();
  // The server answers a denied SUB with -ERR before it answers the PING flush sends; one more
  // round trip makes sure the client has handled it.
  await nc.flush();
  return Promise.race([closed, Promise.resolve('open')]);
}

async function metric(name: string): Promise<number> {
  const text = (await httpGetText(controller.http, '/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

beforeAll(async () => {
  const hosts = new Map([
    ['web-01', PASSWORDS['web-01']],
    ['web-02', PASSWORDS['web-02']],
  ]);
  nats = await startNatsServer({
    config: natsAuthorizationBlock({
      subjectPrefix: 'flotilla',
      controllerPassword: PASSWORDS.controller,
      hostsPassword: PASSWORDS.hosts,
      hosts,
    }),
  });
  dir = await controllerTestDir('nats-auth');
  release = await writeKeyPair(dir, 'release');
  const controllerKey = await writeKeyPair(dir, 'controller');
  controller = await ControllerProcess.start({
    natsUrl: nats.url,
    dir: join(dir, 'controller'),
    controllerKey: controllerKey.keyPath,
    trustedKeys: [release.pubPath],
    env: {
      FLOTILLA_NATS_USER: 'controller',
      FLOTILLA_NATS_PASSWORD: PASSWORDS.controller,
      FLOTILLA_NATS_HOSTS_USER: 'controller-hosts',
      FLOTILLA_NATS_HOSTS_PASSWORD: PASSWORDS.hosts,
    },
  });
  clients = controllerClients(controller.grpc);
  const bytes = await releaseTarball(dir);
  await uploadArtifact(clients.artifacts, signArtifact(bytes, 'web', '1.0.0', release.signer), bytes);
  admin = await connectAs('controller', PASSWORDS.controller);
});

afterAll(async () => {
  for (const nc of opened) await nc.close().catch(() => undefined);
  clients?.close();
  await controller?.stop();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The assignment bucket web-01's record lives in: what a host would most like to write. */
const WEB01_ASSIGNMENTS = `${BUCKETS.assignments}_${shardIndex('web-01', ASSIGNMENT_SHARDS)}`;

/** What a purge or an overwrite would change: the buckets' message counts and the web artifact record. */
async function stateOfBuckets(): Promise<{ artifacts: number; apps: number; assignments: number; record: string | undefined }> {
  const jsm = await jetstreamManager(admin);
  const artifacts = (await jsm.streams.info('KV_flotilla_artifacts')).state.messages;
  const apps = (await jsm.streams.info('KV_flotilla_apps')).state.messages;
  const assignments = (await jsm.streams.info(`KV_${WEB01_ASSIGNMENTS}`)).state.messages;
  const kv = await new Kvm(admin).open('flotilla_artifacts');
  const entry = await kv.get('web.1.0.0');
  return { artifacts, apps, assignments, record: entry?.string() };
}

describe('NATS authorization for hosts', () => {
  it('a sync request whose reply subject is a JetStream or KV subject changes nothing and is counted', async () => {
    const before = await stateOfBuckets();
    expect(before.artifacts).toBeGreaterThan(0);
    expect(before.record).toContain('"1.0.0"');
    const host = await connectAs('web-01', PASSWORDS['web-01'], '_INBOX_web-01');
    const attacks = [
      '$JS.API.STREAM.PURGE.KV_flotilla_artifacts',
      '$JS.API.STREAM.DELETE.KV_flotilla_apps',
      '$KV.flotilla_apps.web',
      '$KV.flotilla_artifacts.web.1.0.0',
      `$KV.${WEB01_ASSIGNMENTS}.web-01`,
      '_INBOX_web-02.stolen',
    ];
    for (const reply of attacks) host.publish(s.sync('web-01'), new Uint8Array(), { reply });
    await host.flush();
    await waitUntil('the controller to refuse every hostile reply subject', async () =>
      (await metric('flotilla_malformed_messages_total{kind="sync-reply-subject"}')) >= attacks.length,
    );
    expect(await stateOfBuckets()).toEqual(before);
  });

  it('the host-facing controller user itself cannot publish to JetStream', async () => {
    const before = await stateOfBuckets();
    const hostFacing = await connectAs('controller-hosts', PASSWORDS.hosts);
    await expect(hostFacing.request('$JS.API.STREAM.PURGE.KV_flotilla_artifacts', new Uint8Array(), { timeout: 2000 })).rejects.toThrow();
    hostFacing.publish('$KV.flotilla_apps.web', new TextEncoder().encode('{}'));
    await hostFacing.flush();
    expect(await stateOfBuckets()).toEqual(before);
  });

  it("a host is answered in its own inbox, and cannot listen on another host's inbox or assignments", async () => {
    const web02 = await FakeHost.connect(nats.url, 'web-02', { auth: { user: 'web-02', pass: PASSWORDS['web-02'] } });
    try {
      const reply = await web02.sync();
      expect(reply.type).toBe('sync-reply');
    } finally {
      await web02.close();
    }
    const web01 = await connectAs('web-01', PASSWORDS['web-01'], '_INBOX_web-01');
    for (const subject of ['_INBOX_web-02.>', '_INBOX.>', '>', s.assign('web-02'), s.assign('*'), '$KV.flotilla_apps.>']) {
      expect(await subscribeOutcome(web01, subject), subject).toMatch(/permissions violation/i);
    }
    // Its own subjects are allowed.
    expect(await subscribeOutcome(web01, '_INBOX_web-01.>')).toBe('open');
    expect(await subscribeOutcome(web01, s.assign('web-01'))).toBe('open');
  });

  it('a host cannot publish as another host or to JetStream', async () => {
    const before = await stateOfBuckets();
    const web01 = await connectAs('web-01', PASSWORDS['web-01'], '_INBOX_web-01');
    const errors: string[] = [];
    void (async () => {
      for await (const st of web01.status()) if (st.type === 'error') errors.push(String(st.error));
    })();
    web01.publish(s.heartbeat('web-02'), new Uint8Array());
    web01.publish('$JS.API.STREAM.PURGE.KV_flotilla_artifacts', new Uint8Array());
    // Its own assignment record, written straight into its bucket: a host assigning itself.
    web01.publish(`$KV.${WEB01_ASSIGNMENTS}.web-01`, new TextEncoder().encode('{"hostId":"web-01","seq":999}'));
    await web01.flush();
    await waitUntil('the three publishes refused', () => errors.filter((e) => /permissions violation/i.test(e)).length >= 3);
    expect(await stateOfBuckets()).toEqual(before);
  });

  it("neither a host nor the host-facing user can put a command in the leader's work queue", async () => {
    // The stream a follower hands writes to the leader through: a command there is acted on by
    // the leader as an operator's, so only the controller's main user may publish to it.
    const jsm = await jetstreamManager(admin);
    const queued = async () => (await jsm.streams.info('flotilla_commands')).state.messages;
    const before = await queued();
    const forged = new TextEncoder().encode(JSON.stringify({ kind: 'rollback', app: 'web', actor: 'web-01' }));
    for (const [user, pass] of [['web-01', PASSWORDS['web-01']], ['controller-hosts', PASSWORDS.hosts]] as const) {
      const nc = await connectAs(user, pass, user === 'web-01' ? '_INBOX_web-01' : undefined);
      const errors: string[] = [];
      void (async () => {
        for await (const st of nc.status()) if (st.type === 'error') errors.push(String(st.error));
      })();
      nc.publish('flotilla.v1.commands', forged);
      await nc.flush();
      await waitUntil(`${user}'s publish to the command subject refused`, () => errors.some((e) => /permissions violation/i.test(e)));
    }
    expect(await queued()).toBe(before);
  });
});
