import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commandArgv, runCommand } from './command.js';
import { identityOf } from './proc.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-command-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const opts = (over: Partial<Parameters<typeof runCommand>[1]> = {}) => ({ cwd: dir, env: {}, timeoutMs: 10_000, ...over });

describe('runCommand', () => {
  it('runs a string through /bin/sh with the given env and cwd, and keeps the output tail', async () => {
    const r = await runCommand('echo "$GREETING from $(pwd)"; echo oops >&2', opts({ env: { GREETING: 'hello' } }));
    expect(r).toMatchObject({ ok: true, code: 0, signal: null, timedOut: false });
    expect(r.outputTail).toContain(`hello from ${dir}`);
    expect(r.outputTail).toContain('oops');
  });

  it('runs an argv array directly, expanding ${VAR} in its elements', async () => {
    const r = await runCommand([process.execPath, '-e', 'console.log(process.argv[1])', '${PORT}'], opts({ env: { PORT: '8123' } }));
    expect(r.ok).toBe(true);
    expect(r.outputTail.trim()).toBe('8123');
    expect(commandArgv(['x', '$PORT', '${NOPE}'], { PORT: '1' })).toEqual({ file: 'x', args: ['$PORT', '${NOPE}'] });
  });

  it('reports a non-zero exit without throwing', async () => {
    const r = await runCommand('exit 7', opts());
    expect(r).toMatchObject({ ok: false, code: 7, timedOut: false });
  });

  it('reports a missing program as a failed result', async () => {
    const r = await runCommand(['/nonexistent/flotilla-hook'], opts());
    expect(r).toMatchObject({ ok: false, code: null, timedOut: false });
    expect(r.outputTail).toContain('command not found: /nonexistent/flotilla-hook');
  });

  it('reports a missing working directory', async () => {
    const r = await runCommand('true', opts({ cwd: join(dir, 'missing') }));
    expect(r.ok).toBe(false);
    expect(r.outputTail).toMatch(/working directory does not exist/);
  });

  it('kills the whole process group on timeout', async () => {
    const r = await runCommand('sleep 300 & echo $! > bg.pid; sleep 300', opts({ timeoutMs: 300 }));
    expect(r).toMatchObject({ ok: false, timedOut: true, signal: 'SIGKILL' });
    const bg = Number((await readFile(join(dir, 'bg.pid'), 'utf8')).trim());
    await waitFor(() => identityOf(bg) === null, 'the background child to die');
  });

  it('kills the command when aborted', async () => {
    const abort = new AbortController();
    const running = runCommand('sleep 300', opts({ signal: abort.signal }));
    setTimeout(() => abort.abort(), 50);
    const r = await running;
    expect(r).toMatchObject({ ok: false, signal: 'SIGKILL', timedOut: false });
  });

  it('appends the output to a log file when asked', async () => {
    const logFile = join(dir, 'logs', 'hook.log');
    await runCommand('echo first', opts({ logFile }));
    await runCommand('echo second >&2', opts({ logFile }));
    expect(await readFile(logFile, 'utf8')).toBe('first\nsecond\n');
  });
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
