// One artifact fetch through the agent's own code, in a process of its own (as each agent is):
// the release signer's descriptor is verified, then the agent's work thread (where a running agent
// downloads) streams the bytes from the controller into a cache dir, hashing as they arrive, and
// checks size and SHA-256.
//   node fetch-worker.js CONTROLLER_ADDRESS SIGNED_DESCRIPTOR_JSON_FILE TRUSTED_KEY CACHE_DIR
// With FLOTILLA_TLS_CA, FLOTILLA_TLS_CERT and FLOTILLA_TLS_KEY in its environment (as an agent
// takes them) it downloads over TLS as that host.
// Prints "ready" once loaded, starts when a line arrives on stdin (so that several start
// together, as resident agents would), and prints {"ms": ..., "bytes": ...} once verified.
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { WorkThread } from '@flotilla/agent';
import { createLogger, loadTrustedKeys, verifyDescriptor, type Signed } from '@flotilla/shared';

const [controller, descriptorFile, trustedKey, cacheDir] = process.argv.slice(2);
if (!controller || !descriptorFile || !trustedKey || !cacheDir) {
  process.stderr.write('usage: fetch-worker CONTROLLER SIGNED_DESCRIPTOR_JSON TRUSTED_KEY CACHE_DIR\n');
  process.exit(2);
}
const signed = JSON.parse(await readFile(descriptorFile, 'utf8')) as Signed;
const keys = loadTrustedKeys([trustedKey]);
const logger = createLogger({ name: 'fetch-worker', level: 'warn', pretty: false });
// Started (and its modules loaded) before "ready", and kept: the agent's own figure times the
// download inside the thread, so thread start-up stays out of this one too.
const work = new WorkThread({ log: { level: 'warn', pretty: false }, logger, idleMs: 3_600_000 });
await work.inventory();
process.stdout.write('ready\n');
await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));

const { FLOTILLA_TLS_CA: ca, FLOTILLA_TLS_CERT: cert, FLOTILLA_TLS_KEY: key } = process.env;
const tls = ca && cert && key ? { tls: { ca, cert, key } } : {};
const started = performance.now();
const descriptor = verifyDescriptor(signed, keys);
await work.download({ controller, sha256: descriptor.sha256, size: descriptor.size, cacheDir, ...tls });
process.stdout.write(`${JSON.stringify({ ms: performance.now() - started, bytes: descriptor.size, cpu: process.cpuUsage() })}\n`);
// Ending the process ends the thread: nothing of it is left to flush or keep.
process.exit(0);
