#!/usr/bin/env node
// Builds the Debian packages flotilla-agent and flotilla-controller (which carries the `flotilla`
// CLI) into build/packages/: each program bundled to one file by esbuild, the .proto beside it,
// the systemd unit, the example config as a conffile and the maintainer scripts from
// deploy/debian/. Needs dpkg-deb (every Debian has it); `tsc -b` runs first.
//   node scripts/package.mjs [--out DIR] [--skip-build] [--version V]
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { AGENT_ENTRIES, bundleProgram } from './bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const outDir = resolve(outIndex >= 0 ? args[outIndex + 1] : join(root, 'build', 'packages'));
// The programs' version (the root package.json has none of its own); --version builds another
// one, for instance a newer one to try an upgrade with.
const versionIndex = args.indexOf('--version');
const version = versionIndex >= 0 ? args[versionIndex + 1] : JSON.parse(readFileSync(join(root, 'controller', 'package.json'), 'utf8')).version;
if (!/^[0-9][A-Za-z0-9.+~]*$/.test(version ?? '')) throw new Error(`--version "${version}" is not a Debian version`);

/**
 * What each package holds. `entries` are bundled into /usr/share/<name>/lib/<file>; the proto
 * loader looks for ../flotilla.proto beside that directory (proto/src/index.ts), and the agent's
 * work thread for ./main.js beside the agent's bundle (agent/src/worker/thread.ts).
 */
const packages = [
  {
    name: 'flotilla-agent',
    role: 'agent',
    stateDir: 'flotilla',
    other: 'flotilla-controller',
    description: 'Flotilla fleet agent: installs and supervises releases on a host',
    long: [
      'The host daemon of Flotilla, a fleet deployment manager. It installs signed',
      'releases that the controller assigns to this host, switches between them',
      'atomically, supervises the apps and reports their health over NATS.',
    ],
    entries: AGENT_ENTRIES,
    links: [],
  },
  {
    name: 'flotilla-controller',
    role: 'controller',
    stateDir: 'flotilla-controller',
    other: 'flotilla-agent',
    description: 'Flotilla fleet controller and the flotilla CLI',
    long: [
      'The control plane of Flotilla, a fleet deployment manager: it stores signed',
      'release tarballs, walks new versions across the fleet in health-gated batches',
      'and reverts on alarms. The flotilla command is the operators\' CLI.',
    ],
    entries: [
      { from: 'controller/bin/flotilla-controller.js', to: 'flotilla-controller.js' },
      { from: 'controller/bin/flotilla.js', to: 'flotilla.js' },
    ],
    links: [{ link: 'usr/bin/flotilla', target: '../share/flotilla-controller/lib/flotilla.js' }],
  },
];

function run(cmd, argv, opts = {}) {
  execFileSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts });
}

function write(file, text, mode = 0o644) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

function copy(from, to, mode = 0o644) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(join(root, from), to);
  chmodSync(to, mode);
}

function gzipTo(file, text) {
  mkdirSync(dirname(file), { recursive: true });
  // mtime 0 (Node writes none) keeps the package reproducible; level 9 as lintian expects.
  writeFileSync(file, gzipSync(Buffer.from(text), { level: 9 }));
  chmodSync(file, 0o644);
}

/** Replaces @NAME@ placeholders in a maintainer script or unit template. */
function fill(text, vars) {
  return text.replace(/@([A-Z_]+)@/g, (m, k) => (k in vars ? vars[k] : m));
}

async function stage(pkg) {
  const dir = join(outDir, 'stage', pkg.name);
  rmSync(dir, { recursive: true, force: true });
  const share = join(dir, 'usr', 'share', pkg.name);
  const lib = join(share, 'lib');
  for (const e of pkg.entries) {
    await bundleProgram(e.from, join(lib, e.to));
    const text = readFileSync(join(lib, e.to), 'utf8');
    chmodSync(join(lib, e.to), text.startsWith('#!') ? 0o755 : 0o644);
  }
  // The bundles are ES modules with a .js name (the work thread is loaded as ./main.js).
  write(join(lib, 'package.json'), '{ "type": "module" }\n');
  // On a terminal the logger loads pino-pretty at run time by name (shared/src/logging.ts), out of
  // esbuild's sight: it gets a bundle of its own where Node's resolution finds it.
  const pretty = join(lib, 'node_modules', 'pino-pretty');
  await build({
    entryPoints: [createRequire(join(root, 'shared', 'package.json')).resolve('pino-pretty')],
    outfile: join(pretty, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    legalComments: 'none',
    logLevel: 'warning',
  });
  write(join(pretty, 'package.json'), '{ "name": "pino-pretty", "type": "commonjs", "main": "index.js" }\n');
  copy('proto/flotilla.proto', join(share, 'flotilla.proto'));
  for (const l of pkg.links) {
    mkdirSync(dirname(join(dir, l.link)), { recursive: true });
    run('ln', ['-sfn', l.target, join(dir, l.link)]);
  }
  copy(`deploy/systemd/${pkg.name}.service`, join(dir, 'lib', 'systemd', 'system', `${pkg.name}.service`));
  copy(`deploy/config/${pkg.role}.yaml`, join(dir, 'etc', 'flotilla', `${pkg.role}.yaml`));

  const doc = join(dir, 'usr', 'share', 'doc', pkg.name);
  write(join(doc, 'copyright'), readFileSync(join(root, 'deploy', 'debian', 'copyright'), 'utf8'));
  gzipTo(join(doc, 'changelog.gz'), fill(readFileSync(join(root, 'deploy', 'debian', 'changelog'), 'utf8'), { PACKAGE: pkg.name, VERSION: version }));

  const vars = { PACKAGE: pkg.name, ROLE: pkg.role, UNIT: `${pkg.name}.service`, STATE_DIR: pkg.stateDir, OTHER_PACKAGE: pkg.other, VERSION: version };
  const debian = join(dir, 'DEBIAN');
  for (const script of ['postinst', 'prerm', 'postrm']) {
    write(join(debian, script), fill(readFileSync(join(root, 'deploy', 'debian', script), 'utf8'), vars), 0o755);
  }
  write(join(debian, 'conffiles'), `/etc/flotilla/${pkg.role}.yaml\n`);
  const size = Number(execFileSync('du', ['-sk', '--exclude=DEBIAN', dir], { encoding: 'utf8' }).split('\t')[0]);
  write(
    join(debian, 'control'),
    [
      `Package: ${pkg.name}`,
      `Version: ${version}`,
      'Architecture: all',
      'Maintainer: Flotilla maintainers <maintainers@flotilla.example.org>',
      `Installed-Size: ${size}`,
      'Depends: nodejs (>= 20), adduser',
      'Section: admin',
      'Priority: optional',
      `Description: ${pkg.description}`,
      ...pkg.long.map((l) => ` ${l}`),
      '',
    ].join('\n'),
  );
  mkdirSync(outDir, { recursive: true });
  const deb = join(outDir, `${pkg.name}_${version}_all.deb`);
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', dir, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
  return deb;
}

if (!args.includes('--skip-build')) run('npx', ['--no-install', 'tsc', '-b']);
const built = [];
for (const pkg of packages) built.push(await stage(pkg));
rmSync(join(outDir, 'stage'), { recursive: true, force: true });
for (const deb of built) console.log(deb);
