import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControllerProcess,
  controllerClients,
  downloadArtifact,
  releaseTarball,
  sha256Hex,
  signArtifact,
  uploadArtifact,
} from './controller-process.js';
import { ControllerFixture } from './controller-fixture.js';

// Release bytes live in the JetStream object store; each controller's artifacts dir is a cache.
let fixture: ControllerFixture;
let second: ControllerProcess | undefined;

beforeAll(async () => {
  fixture = await ControllerFixture.start({ name: 'cluster-releases' });
});

afterAll(async () => {
  await second?.stop();
  await fixture?.stop();
});

const startSecond = () =>
  ControllerProcess.start({
    natsUrl: fixture.nats.url,
    dir: join(fixture.dir, 'second'),
    controllerKey: fixture.controllerKey.keyPath,
    trustedKeys: [fixture.release.pubPath],
  });

async function randomRelease(version: string) {
  const random = Buffer.from(Array.from({ length: 600 * 1024 }, () => Math.floor(Math.random() * 256)));
  const bytes = await releaseTarball(fixture.dir, { files: { 'payload.bin': random.toString('base64') } });
  return { bytes, header: signArtifact(bytes, 'web', version, fixture.release.signer) };
}

describe('release bytes in the object store', () => {
  it('serves a release uploaded to one controller from another, filling its cache, whole and from an offset', async () => {
    const { bytes, header } = await randomRelease('1.0.0');
    await uploadArtifact(fixture.clients.artifacts, header, bytes);
    second = await startSecond();
    const clients = controllerClients(second.grpc);
    try {
      const rest = await downloadArtifact(clients.artifacts, sha256Hex(bytes), 200_000);
      expect(rest.data.equals(bytes.subarray(200_000))).toBe(true);
      const whole = await downloadArtifact(clients.artifacts, sha256Hex(bytes));
      expect(whole.data.equals(bytes)).toBe(true);
    } finally {
      clients.close();
    }
    expect(await readdir(join(second.dataDir, 'artifacts'))).toContain(`${sha256Hex(bytes)}.tar.gz`);
  });

  it('copies the releases of a data dir from before the object store into it at start', async () => {
    const { bytes, header } = await randomRelease('2.0.0');
    await uploadArtifact(fixture.clients.artifacts, header, bytes);
    await fixture.controller.stop();
    await second?.stop();
    second = undefined;
    // An old single-controller installation: bytes and records, but no object store.
    const nc = await connect({ servers: fixture.nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete('OBJ_flotilla_releases');
    } finally {
      await nc.close();
    }
    await rm(join(fixture.dir, 'second', 'data', 'artifacts'), { recursive: true, force: true });

    await fixture.restartController();
    second = await startSecond();
    const clients = controllerClients(second.grpc);
    try {
      // Only the object store can have given the second controller these bytes.
      const got = await downloadArtifact(clients.artifacts, sha256Hex(bytes));
      expect(got.data.equals(bytes)).toBe(true);
    } finally {
      clients.close();
    }
  });
});
