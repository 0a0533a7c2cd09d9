// Checks the import graph: controller → shared/proto, agent → shared/proto, shared and proto
// import neither side, and controller and agent never import each other. Exits 1 naming the file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const forbidden = {
  shared: ['@flotilla/controller', '@flotilla/agent', '@flotilla/test'],
  proto: ['@flotilla/controller', '@flotilla/agent', '@flotilla/shared', '@flotilla/test'],
  controller: ['@flotilla/agent', '@flotilla/test', '../agent', '../../agent'],
  agent: ['@flotilla/controller', '@flotilla/test', '../controller', '../../controller'],
};
const problems = [];
function walk(dir, pkg) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, pkg);
    else if (/\.ts$/.test(name) && !name.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1];
        if (forbidden[pkg].some((f) => spec === f || spec.startsWith(`${f}/`))) {
          problems.push(`${relative(root, path)} imports ${spec}`);
        }
        // Relative imports must stay inside the package (unit tests may borrow test fixtures).
        if (spec.startsWith('.') && !name.endsWith('.test.ts')) {
          const target = relative(join(root, pkg), join(dir, spec));
          if (target.startsWith('..')) problems.push(`${relative(root, path)} reaches outside ${pkg}/ with ${spec}`);
        }
      }
    }
  }
}
for (const pkg of Object.keys(forbidden)) walk(join(root, pkg, 'src'), pkg);
if (problems.length > 0) {
  console.error(`import graph violations:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('import graph ok: controller → shared, agent → shared, no cross imports');
