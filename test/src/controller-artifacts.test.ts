import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListArtifactsResponse__Output } from '@flotilla/proto';
import { makeDescriptor, signDescriptor, verifyDescriptor } from '@flotilla/shared';
import {
  ControllerProcess,
  downloadArtifact,
  httpGetText,
  releaseTarball,
  sha256Hex,
  signArtifact,
  refusal,
  unaryCall,
  uploadArtifact,
  waitUntil,
  type ControllerClients,
  type TestKeyPair,
} from './controller-process.js';
import { ControllerFixture } from './controller-fixture.js';
import { writeKeyPair } from './keys.js';

let fixture: ControllerFixture;
let dir: string;
let controller: ControllerProcess;
let clients: ControllerClients;
let release: TestKeyPair;
let rogue: TestKeyPair;

beforeAll(async () => {
  fixture = await ControllerFixture.start({ name: 'controller-artifacts' });
  ({ dir, controller, clients, release } = fixture);
  rogue = await writeKeyPair(dir, 'rogue');
});

afterAll(async () => {
  await fixture?.stop();
});

const listArtifacts = (app = '') =>
  unaryCall<{ app: string }, ListArtifactsResponse__Output>(clients.control, 'ListArtifacts', { app });


/** The controller's upload counter, by result. */
async function uploadCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const m of (await httpGetText(controller.http, '/metrics')).body.matchAll(/^flotilla_artifact_uploads_total\{result="(\w+)"\} (\d+)$/gm)) {
    counts[m[1] as string] = Number(m[2]);
  }
  return counts;
}

describe('artifact upload and download', () => {
  it('stores a signed artifact and serves the same bytes back, whole and from an offset', async () => {
    // Big enough for several 256 KiB download chunks; random so gzip cannot shrink it.
    const random = Buffer.from(Array.from({ length: 700 * 1024 }, () => Math.floor(Math.random() * 256)));
    const bytes = await releaseTarball(dir, { files: { 'payload.bin': random.toString('base64') } });
    const header = signArtifact(bytes, 'web', '1.0.0', release.signer);

    const res = await uploadArtifact(clients.artifacts, header, bytes);
    expect(res.already_present).toBe(false);
    expect(res.artifact).toMatchObject({ app: 'web', version: '1.0.0', sha256: sha256Hex(bytes), size: String(bytes.length) });
    expect(res.artifact?.key_id).toBe(release.keyId);
    // The stored signature still verifies for an agent holding the release key.
    const signed = res.artifact?.signed;
    expect(
      verifyDescriptor({ payload: signed?.descriptor_json ?? '', keyId: signed?.key_id ?? '', signature: signed?.signature ?? '' }, [
        release.publicKey,
      ]),
    ).toMatchObject({ app: 'web', version: '1.0.0' });

    const whole = await downloadArtifact(clients.artifacts, sha256Hex(bytes));
    expect(whole.data.equals(bytes)).toBe(true);
    expect(whole.offsets[0]).toBe(0);
    expect(whole.offsets.length).toBeGreaterThan(1);

    const offset = 300_001;
    const rest = await downloadArtifact(clients.artifacts, sha256Hex(bytes), offset);
    expect(rest.data.equals(bytes.subarray(offset))).toBe(true);
    expect(rest.offsets[0]).toBe(offset);

    const none = await downloadArtifact(clients.artifacts, sha256Hex(bytes), bytes.length);
    expect(none.data.length).toBe(0);

    const listed = await listArtifacts('web');
    expect(listed.artifacts.map((a) => `${a.app}@${a.version}`)).toEqual(['web@1.0.0']);
  });

  it('answers OUT_OF_RANGE past the end and NOT_FOUND for an unknown digest', async () => {
    const bytes = await releaseTarball(dir, { files: { 'v.txt': 'range' } });
    await uploadArtifact(clients.artifacts, signArtifact(bytes, 'range', '1', release.signer), bytes);
    const past = await refusal(downloadArtifact(clients.artifacts, sha256Hex(bytes), bytes.length + 1));
    expect(past.code).toBe(status.OUT_OF_RANGE);
    expect(past.details).toMatch(/past the end/);
    const unknown = await refusal(downloadArtifact(clients.artifacts, 'f'.repeat(64)));
    expect(unknown.code).toBe(status.NOT_FOUND);
    const bad = await refusal(downloadArtifact(clients.artifacts, 'not-a-digest'));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
  });

  it('is idempotent for the same bytes and refuses other bytes for an existing version', async () => {
    const bytes = await releaseTarball(dir, { files: { 'v.txt': 'api one' } });
    const first = await uploadArtifact(clients.artifacts, signArtifact(bytes, 'api', '2.0.0', release.signer), bytes);
    expect(first.already_present).toBe(false);
    const again = await uploadArtifact(clients.artifacts, signArtifact(bytes, 'api', '2.0.0', release.signer), bytes);
    expect(again.already_present).toBe(true);
    expect(again.artifact?.sha256).toBe(first.artifact?.sha256);

    const other = await releaseTarball(dir, { files: { 'v.txt': 'api two' } });
    const clash = await refusal(uploadArtifact(clients.artifacts, signArtifact(other, 'api', '2.0.0', release.signer), other));
    expect(clash.code).toBe(status.ALREADY_EXISTS);
    expect(clash.details).toMatch(/api@2\.0\.0 already exists with other bytes/);
    expect(clash.metadata.get('flotilla-error-code')).toEqual(['FLOTILLA_ERR_CONFLICT']);
    expect((await listArtifacts('api')).artifacts.map((a) => a.sha256)).toEqual([sha256Hex(bytes)]);
  });
});

describe('refused uploads', () => {
  it('refuses each hostile upload with its status and a clear message, and keeps nothing', async () => {
    const good = await releaseTarball(dir, { files: { 'v.txt': 'evil' } });
    const header = signArtifact(good, 'evil', '1.0.0', release.signer);
    const tampered = Buffer.from(good);
    tampered[Math.floor(tampered.length / 2)] = (tampered[Math.floor(tampered.length / 2)] as number) ^ 0x01;
    const otherBytes = await releaseTarball(dir, { files: { 'v.txt': 'something else entirely' } });
    const noManifest = await releaseTarball(dir, { manifest: null });
    const badManifest = await releaseTarball(dir, { files: { 'flotilla.json': '{"start": {"command": 42}}' } });
    const wrongApp = await releaseTarball(dir, { manifest: { app: 'other', start: { command: 'true' } } });

    const cases: { name: string; upload: () => Promise<unknown>; code: status; message: RegExp }[] = [
      {
        name: 'unsigned (no signature)',
        upload: () => uploadArtifact(clients.artifacts, { ...header, signature: '' }, good),
        code: status.PERMISSION_DENIED,
        message: /unsigned/,
      },
      {
        name: 'no descriptor header at all',
        upload: () => uploadArtifact(clients.artifacts, null, good),
        code: status.PERMISSION_DENIED,
        message: /unsigned/,
      },
      {
        name: 'signed by an untrusted key',
        upload: () => uploadArtifact(clients.artifacts, signArtifact(good, 'evil', '1.0.0', rogue.signer), good),
        code: status.PERMISSION_DENIED,
        message: new RegExp(`signed by key ${rogue.keyId}, which is not trusted`),
      },
      {
        name: 'signature over other content',
        upload: () =>
          uploadArtifact(clients.artifacts, { ...header, signature: signArtifact(good, 'evil', '9.9.9', release.signer).signature }, good),
        code: status.PERMISSION_DENIED,
        message: /signature does not verify/,
      },
      {
        name: 'a tampered byte',
        upload: () => uploadArtifact(clients.artifacts, header, tampered),
        code: status.DATA_LOSS,
        message: /do not match the descriptor for evil@1\.0\.0/,
      },
      {
        name: 'truncated',
        upload: () => uploadArtifact(clients.artifacts, header, good.subarray(0, good.length - 10)),
        code: status.DATA_LOSS,
        message: new RegExp(`truncated: ${good.length - 10} of the ${good.length} bytes`),
      },
      {
        name: 'more bytes than the descriptor says',
        upload: () => uploadArtifact(clients.artifacts, header, Buffer.concat([good, Buffer.alloc(100)])),
        code: status.DATA_LOSS,
        message: /larger than its descriptor says/,
      },
      {
        name: "a descriptor for another release's bytes",
        upload: () => uploadArtifact(clients.artifacts, header, otherBytes),
        code: status.DATA_LOSS,
        message: /do not match the descriptor|truncated|larger than/,
      },
      {
        name: 'a malformed descriptor',
        upload: () => uploadArtifact(clients.artifacts, { ...header, payload: '{"app":"evil"}' }, good),
        code: status.INVALID_ARGUMENT,
        message: /descriptor/,
      },
      {
        name: 'a tarball without flotilla.json',
        upload: () => uploadArtifact(clients.artifacts, signArtifact(noManifest, 'evil', '1.0.0', release.signer), noManifest),
        code: status.INVALID_ARGUMENT,
        message: /no flotilla\.json at the root/,
      },
      {
        name: 'an invalid flotilla.json',
        upload: () => uploadArtifact(clients.artifacts, signArtifact(badManifest, 'evil', '1.0.0', release.signer), badManifest),
        code: status.INVALID_ARGUMENT,
        message: /flotilla\.json is invalid: start\.command/,
      },
      {
        name: 'a flotilla.json naming another app',
        upload: () => uploadArtifact(clients.artifacts, signArtifact(wrongApp, 'evil', '1.0.0', release.signer), wrongApp),
        code: status.INVALID_ARGUMENT,
        message: /names app "other", but the release is for "evil"/,
      },
      {
        name: 'bytes that are not a gzip tarball',
        upload: () => {
          const text = Buffer.from('just some text, not an archive');
          return uploadArtifact(clients.artifacts, signArtifact(text, 'evil', '1.0.0', release.signer), text);
        },
        code: status.INVALID_ARGUMENT,
        message: /not gzip-compressed/,
      },
    ];

    for (const c of cases) {
      const err = await refusal(c.upload());
      expect(err.code, c.name).toBe(c.code);
      expect(err.details, c.name).toMatch(c.message);
      expect(err.metadata.get('flotilla-error-code')[0], c.name).toMatch(/^FLOTILLA_ERR_/);
    }

    expect((await listArtifacts('evil')).artifacts).toEqual([]);
    const files = await readdir(join(controller.dataDir, 'artifacts'));
    expect(files.filter((f) => f.startsWith('.upload-'))).toEqual([]);
    expect(files).not.toContain(`${sha256Hex(good)}.tar.gz`);
  });

  it('refuses an over-size descriptor before any byte is sent', async () => {
    const huge = signDescriptor(
      makeDescriptor({ app: 'huge', version: '1', sha256: 'a'.repeat(64), size: 5 * 1024 ** 4 }),
      release.signer,
    );
    const err = await refusal(uploadArtifact(clients.artifacts, huge, Buffer.alloc(0)));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/over the controller's limit/);
  });
});

describe('cancelled transfers', () => {
  it('drops a cancelled upload without a trace and keeps serving after a cancelled download', async () => {
    const random = Buffer.from(Array.from({ length: 600 * 1024 }, () => Math.floor(Math.random() * 256)));
    const bytes = await releaseTarball(dir, { files: { 'payload.bin': random.toString('base64') } });
    const header = signArtifact(bytes, 'cancel', '1', release.signer);

    // Upload: half the bytes, then the client gives up.
    const before = await uploadCounts();
    const call = clients.artifacts.Upload(new Metadata(), () => undefined);
    call.write({ header: { descriptor_json: header.payload, key_id: header.keyId, signature: header.signature } });
    call.write({ chunk: bytes.subarray(0, Math.floor(bytes.length / 2)) });
    await waitUntil('the upload under way', async () =>
      (await readdir(join(controller.dataDir, 'artifacts'))).some((f) => f.startsWith('.upload-')),
    );
    call.cancel();
    await waitUntil('the temporary file removed', async () =>
      (await readdir(join(controller.dataDir, 'artifacts'))).every((f) => !f.startsWith('.upload-')),
    );
    expect((await listArtifacts('cancel')).artifacts).toEqual([]);
    // The temp file and the counter are two steps of the same clean-up: wait for both. A cancel
    // is counted as one; on a busy machine grpc-js may hand the server the client's half-close
    // before its cancel, and the upload then ends as refused for its missing bytes. Either way it
    // is counted once, and never as stored.
    await waitUntil('the cancelled upload counted', async () => {
      const now = await uploadCounts();
      return (now.cancelled ?? 0) + (now.refused ?? 0) > (before.cancelled ?? 0) + (before.refused ?? 0);
    });
    const now = await uploadCounts();
    expect((now.cancelled ?? 0) - (before.cancelled ?? 0) + (now.refused ?? 0) - (before.refused ?? 0)).toBe(1);
    expect(now.ok ?? 0).toBe(before.ok ?? 0);

    // Download: cancel after the first chunk, then fetch it whole.
    await uploadArtifact(clients.artifacts, header, bytes);
    const sha = sha256Hex(bytes);
    await new Promise<void>((resolve, reject) => {
      const stream = clients.artifacts.Download({ sha256: sha, offset: '0' });
      stream.once('data', () => stream.cancel());
      stream.on('error', (err: ServiceError) => (err.code === status.CANCELLED ? resolve() : reject(err)));
      stream.on('end', () => resolve());
    });
    const whole = await downloadArtifact(clients.artifacts, sha);
    expect(whole.data.equals(bytes)).toBe(true);
  });
});
