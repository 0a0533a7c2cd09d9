import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINIMAL_MANIFEST, TAR_END, tarEntryBlocks } from './fixtures/tarballs.js';
import { runToExit } from './spawn.js';

// The agent's unpack of an allowed archive at the default entry limit (100,000 entries), in a
// process of its own so that its peak memory is its own. Before the unpack streamed and forgot
// each entry, this archive held about 500 MB of agent memory.

const ENTRIES = 100_000;
/** Peak resident memory the unpacking process may reach (Node itself is ~50 MB of it). */
const PEAK_RSS_BOUND_MB = 256;

let dir: string;
let tarball: string;

/** Writes the archive entry by entry through gzip, so the test process never holds it whole. */
async function writeManyEntries(path: string, count: number): Promise<void> {
  const gzip = createGzip();
  const out = gzip.pipe(createWriteStream(path));
  const write = async (blocks: Buffer[]) => {
    for (const b of blocks) if (!gzip.write(b)) await once(gzip, 'drain');
  };
  await write(tarEntryBlocks({ path: 'flotilla.json', content: JSON.stringify(MINIMAL_MANIFEST) }));
  for (let d = 0; d < 100; d++) await write(tarEntryBlocks({ path: `d${d}/`, type: 'directory' }));
  for (let i = 101; i < count; i++) await write(tarEntryBlocks({ path: `d${i % 100}/file-${i}.txt`, content: 'x' }));
  gzip.end(TAR_END);
  await once(out, 'close');
}

/** Runs in the child: unpacks, then prints entries, milliseconds and peak RSS as JSON. */
const CHILD = `
import { unpackRelease } from '@flotilla/agent';
import { createLogger } from '@flotilla/shared';
const [tarball, releasesDir] = process.argv.slice(1);
const started = Date.now();
const r = await unpackRelease({ tarball, releasesDir, version: '1.0.0', logger: createLogger({ name: 'unpack', level: 'silent' }) });
console.log(JSON.stringify({ entries: r.entries, ms: Date.now() - started, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-unpack-many-'));
  tarball = join(dir, 'many.tar.gz');
  await writeManyEntries(tarball, ENTRIES);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe(`unpacking ${ENTRIES} entries`, () => {
  it('finishes with every entry on disk and the agent process under its memory bound', async () => {
    const releasesDir = join(dir, 'releases');
    // A generous deadline: this is tens of thousands of file creations on a shared machine.
    const run = await runToExit(process.execPath, ['--input-type=module', '-e', CHILD, tarball, releasesDir], {
      cwd: join(import.meta.dirname, '..'),
      timeoutMs: 600_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim()) as { entries: number; ms: number; peakRssMb: number };
    // Stated in docs/agent.md and docs/operations.md.
    console.log(`unpacked ${result.entries} entries in ${result.ms} ms, peak RSS ${result.peakRssMb} MB`);
    expect(result.entries).toBe(ENTRIES);
    expect(result.peakRssMb).toBeLessThan(PEAK_RSS_BOUND_MB);
    let inD7 = 0;
    for (let i = 101; i < ENTRIES; i++) if (i % 100 === 7) inD7++;
    expect((await readdir(join(releasesDir, '1.0.0', 'd7'))).length).toBe(inD7);
  });
});
