// Checks the import graph. Exits 1 naming each offending file.
//
// 1. Packages: controller → shared/proto, agent → shared/proto; shared and proto import neither
//    side; controller and agent never import each other; relative imports stay in their package.
// 2. Cycles: no chain of relative imports (type-only ones included) leads from a file back to
//    itself. A cycle means neither file can be read, tested or moved without the other.
// 3. Layers: within a package a file may import its own layer or a lower one, never a higher one,
//    so that storage never learns of the rollouts built on it, and the pure engine knows no I/O.
//    A file's layer is that of the longest prefix below naming it; files not named are in the top
//    layer (entry points, wiring), which nothing below may import.
//
//    controller, lowest first:
//      0 foundation  errors, concurrency, due-times, metrics, config (with alarms/config, advertise,
//                    limits-config, host-labels, host-rate), http,
//                    and engine/ (the pure rollout engine)
//      1 storage     store/
//      2 records     artifacts (with release-manifest), assignments (with assignment-*), hosts (with host-live), liveness, store-behind: typed
//                    records over the store
//      3 ledger      apps/ (the one writer of an app's version facts)
//      4 rollouts    rollouts/ (the registry and each live rollout's event loop)
//      5 alarms      reverts/, alarms/ (alarms and rollbacks: the one revert path, its sources),
//                    auth/, tls/ (who a caller is and what each RPC needs; the PKI)
//                    retention/ (artifact retention: asks the ledger, assignments and rollouts)
//      6 boundaries  grpc/ (the API; turns services into RPCs)
//      7 programs    everything else: controller.ts, main.ts, index.ts, cli/, ...
//    agent, lowest first:
//      0 mechanisms  host, inventory, retry, plan, install/, process/
//      1 worker      worker/ (the install thread, built on install/)
//      2 programs    everything else: agent.ts, converge.ts, state.ts, main.ts, ...
//    shared and proto are flat: one layer, cycles still checked.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FORBIDDEN = {
  shared: ['@flotilla/controller', '@flotilla/agent', '@flotilla/test'],
  proto: ['@flotilla/controller', '@flotilla/agent', '@flotilla/shared', '@flotilla/test'],
  controller: ['@flotilla/agent', '@flotilla/test', '../agent', '../../agent'],
  agent: ['@flotilla/controller', '@flotilla/test', '../controller', '../../controller'],
};

/** Per package: path prefix (relative to src/) → layer number; higher may import lower. */
export const LAYERS = {
  controller: {
    'errors.ts': 0,
    'concurrency.ts': 0,
    'due-times.ts': 0,
    'metrics.ts': 0,
    'config.ts': 0,
    'advertise.ts': 0,
    'alarms/config.ts': 0,
    'auth/roles.ts': 0,
    'auth/host-scope.ts': 0,
    'auth/config.ts': 0,
    'auth/alert-sources.ts': 0,
    'limits-config.ts': 0,
    'host-labels.ts': 0,
    'host-rate.ts': 0,
    'http.ts': 0,
    'path-exists.ts': 0,
    'engine/': 0,
    'store/': 1,
    'release-objects.ts': 1,
    'cluster/': 1,
    'cluster/lease.ts': 0,
    'artifacts.ts': 2,
    'assignments.ts': 2,
    'assignment-content.ts': 2,
    'assignment-refresh.ts': 2,
    'assignment-signing.ts': 2,
    'hosts.ts': 2,
    'host-live.ts': 2,
    'liveness.ts': 2,
    'store-behind.ts': 2,
    'release-manifest.ts': 2,
    'apps/': 3,
    'rollouts/': 4,
    'reverts/': 5,
    'auth/': 5,
    'tls/': 5,
    'alarms/': 5,
    'retention/': 5,
    'grpc/': 6,
  },
  agent: {
    'host.ts': 0,
    'inventory.ts': 0,
    'retry.ts': 0,
    'plan.ts': 0,
    'install/': 0,
    'process/': 0,
    'worker/': 1,
  },
};

const TOP_LAYER = Number.MAX_SAFE_INTEGER;

/** The layer of `file` (a path relative to src/, with '/' separators). */
export function layerOf(layers, file) {
  let best = '';
  for (const prefix of Object.keys(layers ?? {})) {
    if ((file === prefix || (prefix.endsWith('/') && file.startsWith(prefix))) && prefix.length > best.length) best = prefix;
  }
  return best === '' ? TOP_LAYER : layers[best];
}

function layerName(layer) {
  return layer === TOP_LAYER ? 'top' : String(layer);
}

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function specifiers(text) {
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

/** The .ts file a relative specifier names (`./x.js` → x.ts, `./dir` → dir/index.ts), if any. */
function resolveRelative(fromFile, spec) {
  const base = join(dirname(fromFile), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** Every cycle in `graph` (file → files it imports), each once, as the files around it. */
export function findCycles(graph) {
  // Tarjan's strongly connected components; a component of more than one file, or a file that
  // imports itself, holds at least one cycle. One cycle per component is reported: enough to act on.
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const cycles = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component = [];
    for (;;) {
      const w = stack.pop();
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(cycleThrough(graph, new Set(component), v));
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

/** One path from `start` back to itself inside `component` (breadth-first, so a shortest one). */
function cycleThrough(graph, component, start) {
  const parent = new Map();
  const queue = [start];
  for (let i = 0; i < queue.length; i += 1) {
    for (const w of graph.get(queue[i]) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [];
        for (let v = queue[i]; v !== undefined; v = parent.get(v)) path.unshift(v);
        return [...path, start];
      }
      if (!parent.has(w) && w !== start) {
        parent.set(w, queue[i]);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/**
 * The import-graph problems of the tree at `root` (a folder holding the package folders), as
 * readable lines; empty when the graph is clean.
 */
export function checkImports(root, { forbidden = FORBIDDEN, layers = LAYERS } = {}) {
  const problems = [];
  const rel = (path) => relative(root, path).split(sep).join('/');
  for (const pkg of Object.keys(forbidden)) {
    const src = join(root, pkg, 'src');
    if (!existsSync(src)) continue;
    const graph = new Map();
    for (const path of sourceFiles(src)) {
      const isTest = path.endsWith('.test.ts');
      const fromRel = relative(src, path).split(sep).join('/');
      const edges = [];
      for (const spec of specifiers(readFileSync(path, 'utf8'))) {
        if (forbidden[pkg].some((f) => spec === f || spec.startsWith(`${f}/`))) {
          problems.push(`${rel(path)} imports ${spec}`);
        }
        if (!spec.startsWith('.')) continue;
        // Unit tests may borrow fixtures from elsewhere and sit outside layers and cycles.
        if (isTest) continue;
        if (relative(join(root, pkg), join(dirname(path), spec)).startsWith('..')) {
          problems.push(`${rel(path)} reaches outside ${pkg}/ with ${spec}`);
          continue;
        }
        const target = resolveRelative(path, spec);
        if (target === undefined) continue;
        edges.push(target);
        const toRel = relative(src, target).split(sep).join('/');
        const from = layerOf(layers[pkg], fromRel);
        const to = layerOf(layers[pkg], toRel);
        if (to > from) {
          problems.push(`${rel(path)} (layer ${layerName(from)}) imports up into ${rel(target)} (layer ${layerName(to)})`);
        }
      }
      if (!isTest) graph.set(path, edges);
    }
    for (const cycle of findCycles(graph)) problems.push(`import cycle: ${cycle.map(rel).join(' → ')}`);
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problems = checkImports(fileURLToPath(new URL('..', import.meta.url)));
  if (problems.length > 0) {
    console.error(`import graph violations:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log('import graph ok: controller → shared, agent → shared, no cross imports, no cycles, no upward imports');
}
