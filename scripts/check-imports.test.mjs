import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { checkImports, findCycles, layerOf, LAYERS } from './check-imports.mjs';

const dirs = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fake repository: `files` maps paths under it to their text. */
function fakeTree(files) {
  const root = mkdtempSync(join(tmpdir(), 'check-imports-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('check-imports', () => {
  it('reports a cycle and an import up a layer, and nothing else', () => {
    const root = fakeTree({
      'controller/src/cli/client.ts': "import { reportError } from './errors.js';\n",
      'controller/src/cli/errors.ts': "import type { CliContext } from './context.js';\n",
      'controller/src/cli/context.ts': "import { createControllerClient } from './client.js';\n",
      'controller/src/store/store.ts': "import { rolloutBuckets } from '../rollouts/store.js';\n",
      'controller/src/rollouts/store.ts': "import { JsonBucket } from '../store/kv.js';\n",
      'controller/src/store/kv.ts': "export const x = 1;\n",
      'controller/src/rollouts/manager.test.ts': "import { x } from '../cli/client.js';\n",
    });
    const problems = checkImports(root);
    expect(problems).toHaveLength(2);
    expect(problems).toContainEqual(
      'controller/src/store/store.ts (layer 1) imports up into controller/src/rollouts/store.ts (layer 4)',
    );
    const cycle = problems.find((p) => p.startsWith('import cycle: '));
    expect(cycle).toBeDefined();
    for (const file of ['client.ts', 'errors.ts', 'context.ts']) expect(cycle).toContain(`controller/src/cli/${file}`);
  });

  it('reports a package importing another it must not', () => {
    const root = fakeTree({ 'agent/src/a.ts': "import { x } from '@flotilla/controller';\n" });
    expect(checkImports(root)).toEqual(['agent/src/a.ts imports @flotilla/controller']);
  });

  it('finds a file that imports itself, and no cycle in a chain', () => {
    expect(findCycles(new Map([['a', ['a']]]))).toEqual([['a', 'a']]);
    expect(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', []]]))).toEqual([]);
  });

  it('places a file by the longest prefix naming it, unnamed files on top', () => {
    expect(layerOf(LAYERS.controller, 'alarms/config.ts')).toBe(0);
    expect(layerOf(LAYERS.controller, 'alarms/webhooks.ts')).toBe(5);
    expect(layerOf(LAYERS.controller, 'main.ts')).toBeGreaterThan(layerOf(LAYERS.controller, 'grpc/server.ts'));
  });

  it('passes the real tree', () => {
    expect(checkImports(fileURLToPath(new URL('..', import.meta.url)))).toEqual([]);
  });
});
