// The demo: a whole fleet on this machine, with real parts: releases deployed, a canary rollout
// walking across it, a bad release stopped at the canary and reverted, an Alertmanager alert
// after a good-looking release putting the whole fleet back on the previous stable version, and
// traffic moved by weight behind a real nginx with every request checked.
//   npm run demo [-- --keep] [-- --dir DIR]
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { tempDir } from '../agent-process.js';
import { alertmanagerAlert, alertmanagerNotification, postAlert } from '../alerts.js';
import { nginxAvailable } from '../bench/nginx.js';
import { Fleet, runCli } from '../fleet.js';
import { TrafficFront } from '../traffic-front.js';
import { trafficAct } from './traffic-act.js';

const { values: flags } = parseArgs({
  options: { keep: { type: 'boolean', default: false }, dir: { type: 'string' }, help: { type: 'boolean', default: false } },
});
if (flags.help) {
  console.log('usage: npm run demo [-- --keep] [-- --dir DIR]\n  --keep  leave the fleet running until Ctrl-C\n  --dir   keep keys, data and logs in DIR');
  process.exit(0);
}

const tty = process.stdout.isTTY;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const step = (text: string) => console.log(`\n${bold(`==> ${text}`)} ${dim(`[${elapsed()}]`)}`);

let fleet: Fleet | undefined;
let front: TrafficFront | undefined;

async function flotilla(args: string[], opts: { expectFail?: boolean } = {}): Promise<void> {
  console.log(dim(`$ flotilla ${args.join(' ')}`));
  const r = await runCli(args, { controller: fleet?.controller.grpc, cwd: fleet?.dir, stdio: 'inherit', env: fleet?.cliEnv ?? {} });
  if ((r.code === 0) === Boolean(opts.expectFail)) {
    throw new Error(`flotilla ${args[0]} exited ${r.code}${opts.expectFail ? ' (a failure was expected)' : ''}`);
  }
}

async function showAnswers(): Promise<void> {
  if (!fleet) return;
  for (const [i, a] of fleet.agents.entries()) {
    const answer = await fleet.answer(i);
    console.log(`   ${a.hostId}  http://127.0.0.1:${a.port}/  →  ${answer ? `demo ${answer.version} (pid ${answer.pid})` : 'no answer'}`);
  }
}

async function main(): Promise<void> {
  const dir = flags.dir ?? (await tempDir('demo'));
  await mkdir(dir, { recursive: true });
  console.log(bold('Flotilla demo: a local fleet of three hosts'));
  console.log(dim(`everything lives in ${dir}`));

  step('Making the release key (kept by whoever signs releases) and the controller key');
  const keysDir = join(dir, 'keys');
  await mkdir(keysDir, { recursive: true });
  for (const name of ['release', 'controller']) {
    console.log(dim(`$ flotilla keys generate ${name} --out-dir keys`));
    const r = await runCli(['keys', 'generate', name, '--out-dir', keysDir], { stdio: 'inherit' });
    if (r.code !== 0) throw new Error(`keys generate ${name} failed`);
  }

  step('Starting nats-server (JetStream), flotilla-controller and three flotilla-agents, over mutual TLS, and nginx in front of the hosts');
  if (!(await nginxAvailable())) throw new Error('nginx is not installed: scripts/ensure-deps.sh --nginx installs it');
  // Started first: each agent's config names it as the balancer of the demo app.
  front = await TrafficFront.start(join(dir, 'traffic'), 'demo', ['host-1', 'host-2', 'host-3']);
  console.log(dim('$ flotilla tls ca create; flotilla tls cert create --server | --host host-N | --operator demo   (in pki/)'));
  // The alert webhooks' bearer token, as an operator would set it: FLOTILLA_ALERTS_TOKEN.
  const alertsToken = randomBytes(16).toString('hex');
  fleet = await Fleet.start({
    dir,
    agents: 3,
    heartbeatInterval: '1s',
    tls: true,
    controllerEnv: { FLOTILLA_ALERTS_TOKEN: alertsToken },
    agentArgs: (i) => (front as TrafficFront).agentArgs(i),
    keys: {
      release: { keyPath: join(keysDir, 'release.key'), pubPath: join(keysDir, 'release.pub') },
      controller: { keyPath: join(keysDir, 'controller.key'), pubPath: join(keysDir, 'controller.pub') },
    },
  });
  console.log(`   nats-server          ${fleet.nats.url}`);
  console.log(`   flotilla-controller  gRPC ${fleet.controller.grpc}, HTTP ${fleet.controller.http}`);
  for (const a of fleet.agents) console.log(`   flotilla-agent       ${a.hostId} (${a.labels.join(', ')}), demo app port ${a.port}`);
  console.log(`   nginx                ${front.url()} (Debian's, unprivileged, its config in ${join(dir, 'traffic')})`);
  await waitForHosts(3);
  await flotilla(['whoami']);
  await flotilla(['hosts']);

  step('Building demo 1.0.0, signing it with the release key and pushing it');
  await flotilla(['artifact', 'push', await fleet.release('1.0.0'), '--app', 'demo', '--version', '1.0.0', '--key', join(keysDir, 'release.key')]);

  step('Deploying demo 1.0.0 to every host');
  await flotilla(['deploy', 'demo@1.0.0', '--wait-timeout', '60s']);
  await showAnswers();

  step('Building, pushing and deploying demo 2.0.0 (a deploy is a one-step rollout: its success makes 2.0.0 the stable version)');
  await flotilla(['artifact', 'push', await fleet.release('2.0.0'), '--app', 'demo', '--version', '2.0.0', '--key', join(keysDir, 'release.key')]);
  await flotilla(['deploy', 'demo@2.0.0', '--wait-timeout', '60s']);
  await showAnswers();

  step('A release signed by someone else is refused at the door');
  const rogue = join(keysDir, 'rogue');
  await runCli(['keys', 'generate', 'rogue', '--out-dir', keysDir], { stdio: 'pipe' });
  await flotilla(['artifact', 'push', await fleet.release('2.0.1'), '--app', 'demo', '--version', '2.0.1', '--key', `${rogue}.key`], { expectFail: true });

  step('A canary rollout of a good 3.0.0: one host first, then one batch at a time, each gated on health');
  await flotilla(['artifact', 'push', await fleet.release('3.0.0'), '--app', 'demo', '--version', '3.0.0', '--key', join(keysDir, 'release.key')]);
  const strategy = ['--canary', '1', '--batch', '1', '--min-healthy-time', '2s', '--healthy-deadline', '6s'];
  await flotilla(['rollout', 'start', 'demo@3.0.0', ...strategy, '--dry-run']);
  await flotilla(['rollout', 'start', 'demo@3.0.0', ...strategy, '--watch']);
  await showAnswers();

  step('A bad 4.0.0 (its health check fails): stopped at the canary and reverted to the stable 3.0.0');
  await flotilla(['artifact', 'push', await fleet.release('4.0.0', 'unhealthy'), '--app', 'demo', '--version', '4.0.0', '--key', join(keysDir, 'release.key')]);
  await flotilla(['rollout', 'start', 'demo@4.0.0', ...strategy, '--watch'], { expectFail: true });
  await waitForAnswers('3.0.0');
  await showAnswers();

  step('A 5.0.0 that passes its rollout, then monitoring sees errors: Alertmanager fires inside the watch window');
  await flotilla(['artifact', 'push', await fleet.release('5.0.0'), '--app', 'demo', '--version', '5.0.0', '--key', join(keysDir, 'release.key')]);
  await flotilla(['rollout', 'start', 'demo@5.0.0', '--steps', '100%', '--min-healthy-time', '2s', '--watch-window', '10m', '--watch']);
  await showAnswers();
  // Exactly what Alertmanager's webhook receiver posts (deploy/alertmanager/alertmanager.yml).
  const notification = alertmanagerNotification([
    alertmanagerAlert('demo', { alertname: 'HighErrorRate', summary: 'demo answers 9% of requests with 5xx', instance: 'host-1:9100' }),
    alertmanagerAlert('demo', { alertname: 'HighErrorRate', summary: 'demo answers 7% of requests with 5xx', instance: 'host-2:9100' }),
  ]);
  const url = `http://${fleet.controller.http}/v1/alerts/alertmanager`;
  console.log(dim(`$ curl -H 'Authorization: Bearer $FLOTILLA_ALERTS_TOKEN' -H 'Content-Type: application/json' -d @alert.json ${url}`));
  const sent = Date.now();
  const reply = await postAlert(fleet.controller.http, '/v1/alerts/alertmanager', notification, alertsToken);
  console.log(`   HTTP ${reply.status} ${JSON.stringify(reply.body.apps)}`);
  if (reply.status !== 202 || reply.body.apps?.[0]?.action !== 'reverted') throw new Error(`the alert was not acted on: HTTP ${reply.status}`);
  await waitForAnswers('3.0.0');
  console.log(`   every host back on the previous stable 3.0.0, running and healthy, ${Date.now() - sent} ms after the alert`);
  await showAnswers();
  await flotilla(['events', '--app', 'demo']);

  await trafficAct({ fleet, front, releaseKey: join(keysDir, 'release.key'), flotilla, step });

  step('Where the fleet stands, and how each release went');
  await flotilla(['status', 'demo']);
  await flotilla(['history', 'demo']);

  console.log(`\n${bold(`Demo finished in ${elapsed()}.`)}`);
  if (flags.keep) {
    console.log(`The fleet keeps running. Try: FLOTILLA_CONTROLLER=${fleet.controller.grpc} npx flotilla status`);
    console.log('Ctrl-C stops it.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  }
}

/** Waits (bounded) until every host runs `version` healthy and answers with it: a revert takes a moment. */
async function waitForAnswers(version: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && fleet) {
    const hosts = await fleet.hosts();
    const healthy = hosts.every((h) =>
      h.apps.some((a) => a.app === 'demo' && a.active_version === version && a.process_state === 'running' && a.health === 'healthy'),
    );
    const answers = await Promise.all(fleet.agents.map((_, i) => fleet?.answer(i)));
    if (healthy && answers.every((a) => a?.version === version)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not every host ran demo ${version} healthy within 20s`);
}

async function waitForHosts(count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const r = await runCli(['hosts', '--json'], { controller: fleet?.controller.grpc, env: fleet?.cliEnv ?? {} });
    if (r.code === 0) {
      const hosts = (JSON.parse(r.stdout) as { hosts: Array<{ state: string }> }).hosts;
      if (hosts.filter((h) => h.state === 'up').length >= count) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`fewer than ${count} hosts came up within 30s`);
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`\ndemo failed: ${(err as Error).message}`);
  if (fleet) console.error(fleet.diagnostics());
} finally {
  if (fleet) {
    step('Stopping the fleet');
    await fleet.stop();
  }
  await front?.stop();
}
process.exit(failed ? 1 : 0);
