// The demo app: a tiny HTTP service that says which release it is.
// PORT comes from the environment (each agent gives it its own); DEMO_MODE picks a behaviour so
// the demo can ship good and bad releases of the same code:
//   good (default)   answers / and /healthz
//   unhealthy        starts, answers /, but /healthz fails
//   unhealthy-after  like good for DEMO_HEALTHY_FOR seconds after start (default 10), then /healthz
//                    fails: a release that looks fine at first and goes bad (a leak, a cache)
//   crash            exits with an error DEMO_CRASH_AFTER seconds after start (default 0.3): a
//                    moment after start, or later, after it passed its health check and served
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const version = process.env.FLOTILLA_VERSION ?? 'unknown';
const host = process.env.FLOTILLA_HOST_ID ?? 'local';
const mode = process.env.DEMO_MODE ?? 'good';
const healthyForMs = Number(process.env.DEMO_HEALTHY_FOR ?? 10) * 1000;
const crashAfterMs = Number(process.env.DEMO_CRASH_AFTER ?? 0.3) * 1000;
const startedAt = Date.now();

if (mode === 'crash') {
  setTimeout(() => {
    console.error(`demo app ${version}: simulated crash`);
    process.exit(3);
  }, crashAfterMs);
}

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    const ok = mode === 'unhealthy-after' ? Date.now() - startedAt < healthyForMs : mode !== 'unhealthy';
    res.writeHead(ok ? 200 : 500, { 'content-type': 'text/plain' });
    res.end(ok ? 'ok\n' : 'failing\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ app: 'demo', version, host, pid: process.pid }) + '\n');
});
server.listen(port, '127.0.0.1', () => console.log(`demo app ${version} listening on 127.0.0.1:${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
