import { describe, expect, it } from 'vitest';
import type { ArtifactInfo__Output, CollectArtifactsRequest, CollectArtifactsResponse__Output, RemoveArtifactRequest } from '@flotilla/proto';
import { ControllerError } from '@flotilla/shared';
import { runCli } from '../program.js';
import { captureContext, fakeClient } from '../testing.js';

const T = 1_700_000_000_000;

function info(version: string, ageMin: number, size = 2048): ArtifactInfo__Output {
  return {
    app: 'web',
    version,
    sha256: version.replace(/\D/g, '').padEnd(64, 'b'),
    size: String(size),
    key_id: 'release',
    uploaded_at_ms: String(T - ageMin * 60_000),
    signed: null,
  };
}

const planned: CollectArtifactsResponse__Output = {
  dry_run: true,
  keep_versions: 2,
  kept: [
    { artifact: info('1.4', 1), protected_by: [] },
    { artifact: info('1.3', 2), protected_by: ['target of active rollout web-7'] },
    { artifact: info('1.2', 3), protected_by: [] },
    { artifact: info('1.0', 5), protected_by: ['stable', 'assigned to hosts h1, h2'] },
  ],
  removed: [info('1.1', 4), info('0.9', 6)],
  freed_bytes: '4096',
};

describe('flotilla artifact gc', () => {
  it('--dry-run lists every version with what would happen to it and why, and deletes nothing', async () => {
    let sent: CollectArtifactsRequest | undefined;
    const c = captureContext({
      env: { NO_COLOR: '1' },
      connect: () =>
        fakeClient({
          collectArtifacts: async (req) => {
            sent = req;
            return planned;
          },
        }),
    });
    expect(await runCli(['artifact', 'gc', '--dry-run', '--app', 'web'], c.ctx)).toBe(0);
    expect(sent).toEqual({ app: 'web', dry_run: true });
    const lines = c.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^APP\s+VERSION\s+SHA256\s+SIZE\s+ACTION\s+WHY$/);
    expect(lines.slice(1, 7).map((l) => l.split(/\s{2,}/).filter((_, i) => i === 1 || i >= 4))).toEqual([
      ['1.4', 'keep', 'newest 2'],
      ['1.3', 'keep', 'target of active rollout web-7'],
      ['1.2', 'keep', 'newest 2'],
      ['1.1', 'would remove', 'older than the newest 2'],
      ['1.0', 'keep', 'stable; assigned to hosts h1, h2'],
      ['0.9', 'would remove', 'older than the newest 2'],
    ]);
    expect(lines[7]).toBe('dry run: would remove 2 versions, freeing 4.0 KiB; nothing was deleted');
  });

  it('without --dry-run says what it removed and what it freed', async () => {
    const c = captureContext({ env: { NO_COLOR: '1' }, connect: () => fakeClient({ collectArtifacts: async () => ({ ...planned, dry_run: false }) }) });
    expect(await runCli(['artifact', 'gc'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/\nweb\s+1\.1\s+\S+\s+2.0 KiB\s+removed\s+older than the newest 2\n/);
    expect(c.out()).toMatch(/\nremoved 2 versions, freed 4.0 KiB\n$/);
  });

  it('says so when nothing is to go; --json prints the answer', async () => {
    const none = { ...planned, removed: [], freed_bytes: '0' };
    const c = captureContext({ env: { NO_COLOR: '1' }, connect: () => fakeClient({ collectArtifacts: async () => none }) });
    expect(await runCli(['artifact', 'gc'], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/\nnothing to remove: every version is protected or among the newest 2 of its app\n$/);
    const j = captureContext({ connect: () => fakeClient({ collectArtifacts: async () => planned }) });
    expect(await runCli(['artifact', 'gc', '--dry-run', '--json'], j.ctx)).toBe(0);
    expect(JSON.parse(j.out())).toMatchObject({ dry_run: true, removed: [{ version: '1.1' }, { version: '0.9' }] });
  });

  it('refuses a malformed app before connecting; an unknown app is the controller refusal, exit 1', async () => {
    const c = captureContext();
    expect(await runCli(['artifact', 'gc', '--app', 'Web!'], c.ctx)).toBe(2);
    expect(c.connections).toEqual([]);
    const u = captureContext({
      connect: () =>
        fakeClient({
          collectArtifacts: async () => {
            throw new ControllerError('FLOTILLA_ERR_NOT_FOUND', 'app "api" has no artifacts', 'NOT_FOUND');
          },
        }),
    });
    expect(await runCli(['artifact', 'gc', '--app', 'api'], u.ctx)).toBe(1);
    expect(u.err()).toBe('error: app "api" has no artifacts\n');
  });
});

describe('flotilla artifact rm', () => {
  it('removes one version and says what it freed', async () => {
    let sent: RemoveArtifactRequest | undefined;
    const c = captureContext({
      env: { USER: 'carol' },
      connect: () =>
        fakeClient({
          removeArtifact: async (req) => {
            sent = req;
            return { artifact: info('1.1', 4), bytes_removed: true };
          },
        }),
    });
    expect(await runCli(['artifact', 'rm', 'web@1.1'], c.ctx)).toBe(0);
    expect(sent).toEqual({ app: 'web', version: '1.1', force: false, actor: 'carol' });
    expect(c.out()).toBe('removed web@1.1 (2.0 KiB freed)\n');
  });

  it('says when the bytes stay because another version shares them', async () => {
    const c = captureContext({ connect: () => fakeClient({ removeArtifact: async () => ({ artifact: info('1.1', 4), bytes_removed: false }) }) });
    expect(await runCli(['artifact', 'rm', 'web@1.1', '--force'], c.ctx)).toBe(0);
    expect(c.out()).toBe('removed web@1.1; its 2.0 KiB stay on disk: another version has the same bytes\n');
  });

  it('a protected version is the controller refusal naming why: exit 1, even with --force', async () => {
    let sent: RemoveArtifactRequest | undefined;
    const c = captureContext({
      connect: () =>
        fakeClient({
          removeArtifact: async (req) => {
            sent = req;
            throw new ControllerError(
              'FLOTILLA_ERR_CONFLICT',
              'web@1.0 is protected and cannot be removed: it is stable; assigned to hosts h1, h2',
              'FAILED_PRECONDITION',
            );
          },
        }),
    });
    expect(await runCli(['artifact', 'rm', 'web@1.0', '--force'], c.ctx)).toBe(1);
    expect(sent?.force).toBe(true);
    expect(c.err()).toBe('error: web@1.0 is protected and cannot be removed: it is stable; assigned to hosts h1, h2\n');
    expect(c.out()).toBe('');
  });

  it('refuses something that is not APP@VERSION before connecting', async () => {
    const c = captureContext();
    expect(await runCli(['artifact', 'rm', 'web'], c.ctx)).toBe(2);
    expect(c.err()).toBe('error: "web" is not APP@VERSION (for example web@1.4.2)\n');
    expect(c.connections).toEqual([]);
  });
});
