import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../agent-process.js';
import { Fleet } from '../fleet.js';

/** Mounting a filesystem needs root; without it the fault is skipped, and the name says why. */
export const CAN_MOUNT = process.getuid?.() === 0;
export const DISK_SKIP_REASON = 'needs root to mount a small tmpfs for the controller data dir';

/** A controller whose data dir is a small tmpfs, so that the test can fill it. */
export interface DiskFleet {
  readonly fleet: Fleet;
  /** The mount point: the controller's directory, its data dir inside. */
  readonly mount: string;
  stop(): Promise<void>;
}

export interface ControllerDiskTry {
  readonly version: string;
  /** Each a plain sentence; empty when the try survived. */
  readonly problems: string[];
  readonly ms: number;
}

/** A controller (no agents: uploads need none) on a 16 MiB tmpfs, with no free-space floor of its own. */
export async function startDiskFleet(): Promise<DiskFleet> {
  const dir = await tempDir('controller-disk');
  const mount = join(dir, 'controller');
  await mkdir(mount, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mount]);
  const cleanup = async () => {
    execFileSync('umount', ['-l', mount]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The floor is off so that the refusal comes from the disk itself being full.
    const fleet = await Fleet.start({ dir, agents: 0, logLevel: 'warn', controllerConfig: 'artifacts:\n  minFreeSpace: "0"\n' });
    return {
      fleet,
      mount,
      stop: async () => {
        await fleet.stop();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Every file under `dir`, relative, sorted; what a half-written upload would add to. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

/**
 * Fills the controller's disk, pushes `version` (refused, naming the sizes,
 * leaving no file behind and no artifact listed), frees the space, and pushes it again (accepted).
 */
export async function controllerDiskTry(df: DiskFleet, version: string): Promise<ControllerDiskTry> {
  const started = Date.now();
  const problems: string[] = [];
  const { fleet, mount } = df;
  const tarball = await fleet.release(version);
  const filler = join(mount, 'filler');
  try {
    const before = await filesUnder(mount);
    const s = await statfs(mount);
    // Every free byte: a release is a few KiB, so anything left could take it.
    await writeFile(filler, Buffer.alloc(s.bavail * s.bsize)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOSPC') throw err;
    });
    const push = ['artifact', 'push', tarball, '--app', 'demo', '--version', version, '--key', fleet.releaseKey.keyPath];
    const refused = await fleet.cli(push);
    if (refused.code === 0) problems.push(`the push of demo@${version} onto a full disk was accepted`);
    else if (!/is \d+ bytes, but the controller's artifact disk has only \d+ bytes free/.test(refused.stderr)) {
      problems.push(`the refusal does not name the sizes: ${refused.stderr.trim()}`);
    }
    const after = (await filesUnder(mount)).filter((f) => f !== 'filler');
    const left = after.filter((f) => !before.includes(f));
    if (left.length > 0) problems.push(`the refused upload left files behind: ${left.join(', ')}`);
    if (await listed(fleet, version)) problems.push(`demo@${version} is listed after its upload was refused`);
    await rm(filler);
    const accepted = await fleet.cli(push);
    if (accepted.code !== 0) problems.push(`the push of demo@${version} after freeing space failed: ${accepted.stderr.trim()}`);
    else if (!(await listed(fleet, version))) problems.push(`demo@${version} is not listed after its upload was accepted`);
  } catch (err) {
    problems.push(err instanceof Error ? (err.message.split('\n')[0] as string) : String(err));
  } finally {
    await rm(filler, { force: true });
  }
  return { version, problems, ms: Date.now() - started };
}

async function listed(fleet: Fleet, version: string): Promise<boolean> {
  const r = await fleet.cli(['artifact', 'list', '--json']);
  if (r.code !== 0) throw new Error(`artifact list failed: ${r.stderr}`);
  return r.stdout.includes(`"${version}"`);
}
