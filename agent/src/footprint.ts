import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings that keep a resident agent small, applied by main.ts before anything else loads.
 *
 * An idle agent wakes a few times a second for heartbeats and health checks; nothing it runs is
 * hot enough to repay an optimising compiler, and what V8 sizes for throughput stays resident:
 * - `--semi-space-growth-factor=1`: the young generation keeps its starting size (1 MiB a
 *   semi-space) instead of doubling after each busy moment (start-up, a deploy) up to 16 MiB,
 *   memory an idle process then holds for good. More scavenges of a small space are cheap here:
 *   what the agent allocates is short-lived, and the bytes of downloads are Buffers outside it.
 * - `--no-opt --no-maglev`: no optimising tiers, whose compilers' code (pages of the node
 *   binary) and output would otherwise stay resident after the first busy moment; functions
 *   still reach the baseline tier. Flags are the process's, so the work thread (downloads and
 *   unpacks) runs without them too: its bytes go through native code (TLS, HTTP/2 framing,
 *   SHA-256, zlib, the file system), and the JavaScript per 256 KiB chunk is small (the bench's
 *   fetch and unpack figures measure it).
 *
 * Each of these is read by V8 when it decides (to grow, to optimise), so setting them at run time
 * takes effect from then on. Flags that shape the heap or its threads at start-up are not safe to
 * change here and are not.
 */
export const FOOTPRINT_V8_FLAGS = ['--semi-space-growth-factor=1', '--no-opt', '--no-maglev'] as const;

/**
 * Applies FOOTPRINT_V8_FLAGS (through `set`, V8's own setter unless a test hands another) unless
 * FLOTILLA_AGENT_V8_DEFAULTS=1 (to compare, or to rule them out); returns what it set.
 */
export function applyFootprintFlags(env: NodeJS.ProcessEnv = process.env, set: (flag: string) => void = setFlagsFromString): readonly string[] {
  if (env.FLOTILLA_AGENT_V8_DEFAULTS === '1') return [];
  for (const flag of FOOTPRINT_V8_FLAGS) set(flag);
  return FOOTPRINT_V8_FLAGS;
}
