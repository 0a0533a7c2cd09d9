// Bundles Flotilla's programs as the Debian packages ship them: each program one ES module file
// made by esbuild. scripts/package.mjs builds the packages with it, and the benchmark runs the
// agent from the same bundle, so that the footprint it reports is the shipped program's.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// CommonJS dependencies (pino, grpc-js, protobufjs) call require() for Node's own modules; an
// ES module bundle has no require of its own, so it gets one made for the bundle's file.
const banner = "import { createRequire as flotillaCreateRequire } from 'node:module';\nconst require = flotillaCreateRequire(import.meta.url);";

/** Bundles `from` (relative to the repository) into `outfile`. */
export async function bundleProgram(from, outfile) {
  await build({
    entryPoints: [join(ROOT, from)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: banner },
    legalComments: 'none',
    logLevel: 'warning',
  });
}

/** The agent's files as its package lays them out under /usr/share/flotilla-agent. */
export const AGENT_ENTRIES = [
  { from: 'agent/bin/flotilla-agent.js', to: 'flotilla-agent.js' },
  { from: 'agent/dist/worker/main.js', to: 'main.js' },
];

/**
 * The agent as shipped, under `share`: lib/flotilla-agent.js (the program), lib/main.js (its work
 * thread, which the program loads as ./main.js), lib/package.json (the bundles are ES modules)
 * and flotilla.proto beside lib/ (where the proto loader looks). Returns the program's path.
 * Needs `tsc -b` first.
 */
export async function bundleAgent(share) {
  const lib = join(share, 'lib');
  mkdirSync(lib, { recursive: true });
  for (const e of AGENT_ENTRIES) await bundleProgram(e.from, join(lib, e.to));
  writeFileSync(join(lib, 'package.json'), '{ "type": "module" }\n');
  copyFileSync(join(ROOT, 'proto', 'flotilla.proto'), join(share, 'flotilla.proto'));
  return join(lib, 'flotilla-agent.js');
}
