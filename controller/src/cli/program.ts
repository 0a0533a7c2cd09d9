import { Command, CommanderError, Option } from 'commander';
import { FLOTILLA_VERSION } from '@flotilla/shared';
import { artifactGc } from './commands/artifact-gc.js';
import { artifactList } from './commands/artifact-list.js';
import { artifactPush } from './commands/artifact-push.js';
import { artifactRm } from './commands/artifact-rm.js';
import { artifactSign } from './commands/artifact-sign.js';
import { DEFAULT_WAIT_TIMEOUT, deploy } from './commands/deploy.js';
import { events } from './commands/events.js';
import { history } from './commands/history.js';
import { hosts } from './commands/hosts.js';
import { keysGenerate } from './commands/keys-generate.js';
import { natsConfig } from './commands/nats-config.js';
import { natsMigrate } from './commands/nats-migrate.js';
import { keysRevokeRelease } from './commands/keys-revoke.js';
import { keysRotateController } from './commands/keys-rotate.js';
import { policySign } from './commands/policy-sign.js';
import { rollback } from './commands/rollback.js';
import { rolloutAbort } from './commands/rollout-abort.js';
import { rolloutList } from './commands/rollout-list.js';
import { rolloutPause } from './commands/rollout-pause.js';
import { rolloutPromote } from './commands/rollout-promote.js';
import { rolloutResume } from './commands/rollout-resume.js';
import { rolloutStart, type RolloutStartOptions } from './commands/rollout-start.js';
import { rolloutStatus } from './commands/rollout-status.js';
import { status } from './commands/status.js';
import { hostRevoke } from './commands/host-revoke.js';
import { tlsCaCreate, tlsCertCreate } from './commands/tls.js';
import { whoami } from './commands/whoami.js';
import type { CliContext } from './context.js';
import { EXIT, reportError } from './errors.js';
import { DEFAULT_CONTROLLER, DEFAULT_TIMEOUT, type RawGlobalOptions } from './options.js';

const EXIT_CODES_HELP = `
flotilla --version prints the version (alone: verbs such as artifact push take --version VERSION).

Environment:
  FLOTILLA_CONTROLLER  controller address (instead of --controller)
  FLOTILLA_API_TOKEN   API token (instead of --token)
  FLOTILLA_ACTOR       who you are, for rollouts' event logs (default: your login name)
  NO_COLOR             no colour even on a terminal

Exit codes:
  0  done
  1  the operation failed (the controller refused it, a deploy did not converge, a watched
     rollout ended failed, reverted or aborted)
  2  usage error or bad local input (arguments, key or artifact files)
  3  the controller could not be reached`;

/**
 * Builds the `flotilla` program. A fresh program per run: commander keeps parsed state on it.
 * Each action stores its verb's exit code through `setExit`.
 */
export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = new Command('flotilla')
    .description(`Flotilla ${FLOTILLA_VERSION}: ship signed releases to a fleet and watch them land.`)
    .option('--controller <addr>', `controller gRPC address HOST:PORT, or several comma-separated, tried in turn (default: ${DEFAULT_CONTROLLER})`)
    .option('--token <token>', 'operator token, sent as a bearer token (or FLOTILLA_API_TOKEN)')
    .option('--tls-ca <file>', 'CA certificate the controller chains to; turns on TLS (or FLOTILLA_TLS_CA)')
    .option('--tls-cert <file>', 'operator client certificate (or FLOTILLA_TLS_CERT)')
    .option('--tls-key <file>', 'its private key (or FLOTILLA_TLS_KEY)')
    .option('--json', 'print machine-readable JSON instead of tables')
    .option('--timeout <duration>', `deadline of each call to the controller (default: ${DEFAULT_TIMEOUT})`)
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void ctx.out.write(s),
      writeErr: (s) => void ctx.err.write(s),
    });

  // Verbs read globals and their own options from one object: the globals may come after the verb.
  const opts = <T extends object>(command: Command): RawGlobalOptions & T =>
    command.optsWithGlobals() as RawGlobalOptions & T;

  const keys = program.command('keys').description('manage release and controller keys');
  keys
    .command('generate')
    .description('write a new Ed25519 key pair: NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM)')
    .argument('<name>', 'file name stem of the pair')
    .option('--out-dir <dir>', 'directory to write the files in', '.')
    .option('--force', 'replace existing files')
    .action(async (name: string, _o, command: Command) => {
      setExit(await keysGenerate({ ...opts(command), name }, ctx));
    });
  keys
    .command('rotate')
    .description('rotate the controller key: a new key for the next epoch, announced by a statement the current key signs')
    .argument('<which>', 'the key to rotate: controller')
    .requiredOption('--key <path>', "the controller's key file (its controllerKey), replaced by the new key")
    .action(async (which: string, _o, command: Command) => {
      if (which !== 'controller') {
        ctx.err.write(`flotilla: only the controller key rotates this way; release keys: add a new one to trustedKeys, then \`flotilla keys revoke release\`\n`);
        setExit(2);
        return;
      }
      setExit(await keysRotateController(opts(command), ctx));
    });
  keys
    .command('revoke')
    .description('revoke a release key: a revocation signed by another trusted release key')
    .argument('<which>', 'the kind of key: release')
    .argument('<keyId>', 'id of the release key to revoke')
    .requiredOption('--signing-key <path>', 'another trusted release key, which signs the revocation')
    .requiredOption('--out <file>', 'where to write the signed revocation')
    .option('--reason <text>', 'why, for operators')
    .action(async (which: string, keyId: string, _o, command: Command) => {
      if (which !== 'release') {
        ctx.err.write(`flotilla: only release keys are revoked this way; the controller key rotates (\`flotilla keys rotate controller\`)\n`);
        setExit(2);
        return;
      }
      setExit(await keysRevokeRelease({ ...opts<{ signingKey: string; out: string; reason?: string }>(command), keyId }, ctx));
    });

  program
    .command('policy')
    .description("sign an app's policy (the versions no host may install)")
    .command('sign')
    .argument('<app>', 'app name')
    .option('--revoke <version>', 'a revoked version (repeat; list every one, the newest policy replaces older ones)', (v: string, all: string[]) => [...all, v], [] as string[])
    .requiredOption('--key <path>', 'a trusted release key')
    .requiredOption('--out <file>', 'where to write the signed policy')
    .action(async (app: string, _o, command: Command) => {
      setExit(await policySign({ ...opts<{ revoke: string[]; key: string; out: string }>(command), app }, ctx));
    });

  const nats = program.command('nats').description('NATS server configuration for a fleet');
  nats
    .command('config')
    .description(
      'write nats-server users and permissions for the controller and each host (nats-auth.conf), and their credential files',
    )
    .option('--hosts <ids>', 'host ids, comma-separated (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--hosts-file <file>', 'a file of host ids, one a line (# comments)')
    .option('--subject-prefix <prefix>', 'first token of every subject (default: flotilla)')
    .option('--out-dir <dir>', 'directory to write the files in', '.')
    .option('--force', 'replace existing files (new passwords for everyone)')
    .action(async (_o, command: Command) => {
      setExit(await natsConfig(opts(command), ctx));
    });
  nats
    .command('migrate')
    .description(
      "copy a controller's state (KV buckets, release bytes, queued commands) to another NATS (a cluster) with its replicas, and check every copy; run with the controllers stopped",
    )
    .requiredOption('--from <servers>', 'the NATS server(s) holding the state now, comma-separated')
    .requiredOption('--to <servers>', "the new cluster's servers, comma-separated")
    .option('--replicas <n>', 'replicas of every bucket on the target (as nats.kvReplicas there)', '3')
    .option('--force', 'replace target buckets that hold other data')
    .option('--from-user <user>', 'NATS user on the source (password in FLOTILLA_FROM_NATS_PASSWORD)')
    .option('--to-user <user>', 'NATS user on the target (password in FLOTILLA_TO_NATS_PASSWORD)')
    .option('--from-tls-ca <file>', "TLS to the source: the CA its servers' certificates chain to")
    .option('--from-tls-cert <file>', 'client certificate for a source that verifies clients (with --from-tls-key)')
    .option('--from-tls-key <file>', "that certificate's private key")
    .option('--to-tls-ca <file>', "TLS to the target: the CA its servers' certificates chain to")
    .option('--to-tls-cert <file>', 'client certificate for a target that verifies clients (with --to-tls-key)')
    .option('--to-tls-key <file>', "that certificate's private key")
    .action(async (_o, command: Command) => {
      setExit(await natsMigrate(opts(command), ctx));
    });

  const artifact = program.command('artifact').description('sign, push, list and remove release artifacts');
  artifact
    .command('sign')
    .description('sign FILE for APP@VERSION and write the signed descriptor (for a later push without the key)')
    .argument('<file>', 'the release tarball (.tar.gz)')
    .requiredOption('--app <app>', 'app name')
    .requiredOption('--version <version>', 'release version')
    .requiredOption('--key <file>', 'Ed25519 private key (PEM)')
    .option('--out <file>', 'where to write the signed descriptor (default: FILE.sig.json)')
    .action(async (file: string, _o, command: Command) => {
      setExit(await artifactSign({ ...opts<{ app: string; version: string; key: string }>(command), file }, ctx));
    });
  artifact
    .command('push')
    .description('upload FILE as APP@VERSION, signing it now (--key) or with a pre-signed descriptor (--signature)')
    .argument('<file>', 'the release tarball (.tar.gz)')
    .requiredOption('--app <app>', 'app name')
    .requiredOption('--version <version>', 'release version')
    .addOption(new Option('--key <file>', 'Ed25519 private key to sign with').conflicts('signature'))
    .addOption(new Option('--signature <file>', 'pre-signed descriptor from `flotilla artifact sign`'))
    .action(async (file: string, _o, command: Command) => {
      setExit(await artifactPush({ ...opts<{ app: string; version: string }>(command), file }, ctx));
    });
  artifact
    .command('list')
    .description('list stored artifacts')
    .option('--app <app>', 'only this app')
    .action(async (_o, command: Command) => {
      setExit(await artifactList(opts(command), ctx));
    });
  artifact
    .command('gc')
    .description('remove the versions retention lets go: neither protected nor among the newest artifacts.keepVersions of their app')
    .option('--dry-run', 'list what would be removed, and why every other version stays; remove nothing')
    .option('--app <app>', 'only this app')
    .action(async (_o, command: Command) => {
      setExit(await artifactGc(opts(command), ctx));
    });
  artifact
    .command('rm')
    .description('remove one stored version; refused, with the reason, for a stable, previous stable, assigned or rolling-out version')
    .argument('<app@version>', 'what to remove, e.g. web@1.4.2')
    .option('--force', 'remove a version kept only as one of the newest (never a protected one)')
    .action(async (target: string, _o, command: Command) => {
      setExit(await artifactRm({ ...opts(command), target }, ctx));
    });

  program
    .command('whoami')
    .description('who the controller takes these credentials to be, and their roles')
    .action(async (_o, command: Command) => {
      setExit(await whoami(opts(command), ctx));
    });

  const host = program.command('host').description('one host: revoke its certificate');
  host
    .command('revoke')
    .description("refuse the host's certificates issued until now, on every controller (admin)")
    .argument('<host-id>', 'the host id its certificate names')
    .action(async (hostId: string, _o, command: Command) => {
      setExit(await hostRevoke({ ...opts(command), hostId }, ctx));
    });

  const tls = program.command('tls').description('the fleet PKI: a CA, and certificates for the controller, hosts and operators');
  tls
    .command('ca')
    .description('the certificate authority')
    .command('create')
    .description('create ca.pem and ca-key.pem')
    .option('--out-dir <dir>', 'directory to write the files in', '.')
    .option('--days <n>', 'lifetime in days (default: 3650)')
    .option('--force', 'replace existing files')
    .action(async (_o, command: Command) => {
      setExit(await tlsCaCreate(opts(command), ctx));
    });
  const collect = (v: string, prev: string[] = []) => [...prev, v];
  tls
    .command('cert')
    .description('certificates signed by the CA')
    .command('create')
    .description('create a certificate for the controller, a host or an operator')
    .option('--server', "the controller's certificate (localhost and 127.0.0.1 always included)")
    .option('--host <id>', "a host's client certificate")
    .option('--operator <name>', "an operator's client certificate (roles come from the controller's operators list)")
    .option('--dns <name>', 'another DNS name of the controller (repeatable)', collect)
    .option('--ip <address>', 'another IP address of the controller (repeatable)', collect)
    .option('--ca-dir <dir>', 'where ca.pem and ca-key.pem are', '.')
    .option('--out-dir <dir>', 'directory to write the files in', '.')
    .option('--days <n>', 'lifetime in days (default: controller and hosts 90, operators 30)')
    .option('--force', 'replace existing files')
    .action(async (_o, command: Command) => {
      setExit(await tlsCertCreate(opts(command), ctx));
    });

  program
    .command('hosts')
    .description('list hosts: state, labels, apps, load, last heartbeat')
    .option('--selector <selector>', 'label selector, e.g. env=prod,zone!=b')
    .action(async (_o, command: Command) => {
      setExit(await hosts(opts(command), ctx));
    });

  program
    .command('status')
    .description('per host and app: desired and active version, process, health, install progress')
    .argument('[app]', 'only this app')
    .action(async (app: string | undefined, _o, command: Command) => {
      setExit(await status({ ...opts(command), app }, ctx));
    });

  program
    .command('deploy')
    .description('roll APP@VERSION out to every selected host at once (one step, no revert) and wait until all run it healthy')
    .argument('<app@version>', 'what to deploy, e.g. web@1.4.2')
    .option('--selector <selector>', 'label selector (default: every host)')
    .option('--wait-timeout <duration>', 'how long to wait for every host', DEFAULT_WAIT_TIMEOUT)
    .option('--no-wait', 'return once the hosts are assigned')
    .option('--force', 'deploy a version marked bad all the same')
    .action(async (target: string, _o, command: Command) => {
      setExit(await deploy({ ...opts(command), target }, ctx));
    });

  const rollout = program.command('rollout').description('health-gated rollouts: canary, batches, pause, promote, abort');
  rollout
    .command('start')
    .description('roll APP@VERSION out: a canary, then batches, each gated on health; revert on failure')
    .argument('<app@version>', 'what to roll out, e.g. web@1.4.2')
    .option('--selector <selector>', 'label selector (default: every host)')
    .option('--canary <n|p%>', 'hosts in the canary step (default: 1)')
    .option('--batch <n|p%>', 'hosts per batch after the canary (default: 25%)')
    .option('--steps <list>', 'cumulative steps instead of canary/batch, e.g. 1,10%,50%,100%')
    .option('--min-healthy-time <duration>', 'a host passes after running the version healthy this long (default: 10s)')
    .option('--healthy-deadline <duration>', 'a host that has not passed this long after its assignment fails (default: 5m)')
    .option('--bake <duration>', 'wait after each batch passes (default: 0s)')
    .option('--canary-bake <duration>', 'wait after the canary passes (default: the --bake)')
    .option('--max-failures <n|p%>', 'failed hosts tolerated (default: 0)')
    .option('--max-restarts <n>', 'a host whose process restarts more often under watch fails (default: 3)')
    .option('--spread-by <label>', 'label whose values each batch should span (default: zone)')
    .option('--traffic <percents>', "traffic steps for the canary's hosts, e.g. 5%,25%,50%,100% (apps served from two slots)")
    .option('--pause-after-canary', 'wait for `flotilla rollout promote` after the canary')
    .option('--stable-after <duration>', 'stabilisation window before the version is marked stable (default: 0s)')
    .option('--watch-window <duration>', 'how long after the end alarms still revert it to the previous stable version (default: 10m)')
    .option('--no-auto-revert', 'on failure, stop and leave hosts as they are')
    .option('--force', 'roll out a version marked bad all the same')
    .option('--dry-run', 'print the steps and the hosts in each; change nothing')
    .option('--watch', 'follow the rollout until it ends (exit 1 unless it succeeds)')
    .action(async (target: string, _o, command: Command) => {
      setExit(await rolloutStart({ ...opts<Omit<RolloutStartOptions, 'target'>>(command), target }, ctx));
    });
  rollout
    .command('status')
    .description('a rollout: its steps, each host and why any failed, and its event log')
    .argument('[id]', 'rollout id (e.g. web-3)')
    .option('--app <app>', "the app's active (else latest) rollout")
    .option('--watch', 'a live view until it ends (exit 1 unless it succeeds)')
    .action(async (id: string | undefined, _o, command: Command) => {
      setExit(await rolloutStatus({ ...opts<{ app?: string; watch?: boolean }>(command), id }, ctx));
    });
  rollout
    .command('list')
    .description('rollouts, newest first, and how each ended')
    .option('--app <app>', 'only this app')
    .action(async (_o, command: Command) => {
      setExit(await rolloutList(opts(command), ctx));
    });
  const commands: [string, string, typeof rolloutPause][] = [
    ['pause', 'stop starting new steps (hosts already assigned are still watched)', rolloutPause],
    ['resume', 'go on after a pause', rolloutResume],
    ['promote', 'go on after the canary (--pause-after-canary), or after a pause', rolloutPromote],
  ];
  for (const [name, description, run] of commands) {
    rollout
      .command(name)
      .description(description)
      .argument('<id>', 'rollout id')
      .action(async (id: string, _o, command: Command) => {
        setExit(await run({ ...opts(command), id }, ctx));
      });
  }
  rollout
    .command('abort')
    .description('stop the rollout and revert every host it touched to the stable version')
    .argument('<id>', 'rollout id')
    .option('--no-revert', 'leave hosts as they are')
    .action(async (id: string, _o, command: Command) => {
      const o = opts<{ revert?: boolean }>(command);
      setExit(await rolloutAbort({ ...o, id, noRevert: o.revert === false }, ctx));
    });

  program
    .command('rollback')
    .description('put every host of APP back on its last stable version (or --to VERSION) at once, aborting its rollout')
    .argument('<app>', 'app name')
    .option('--to <version>', 'a version the controller has an artifact for (default: the last stable version)')
    .option('--yes', 'do not ask for confirmation (needed when not on a terminal)')
    .option('--force', 'go to a version marked bad all the same')
    .action(async (app: string, _o, command: Command) => {
      setExit(await rollback({ ...opts<{ to?: string; yes?: boolean; force?: boolean }>(command), app }, ctx));
    });

  program
    .command('events')
    .description('alarms (alert webhooks, built-in alarms) and rollbacks, newest first, and what each did')
    .option('--app <app>', 'only this app')
    .option('--limit <n>', 'how many (default: 50)')
    .action(async (_o, command: Command) => {
      setExit(await events(opts(command), ctx));
    });

  program
    .command('history')
    .description("an app's versions (which were stable, when) and how each rollout ended and why")
    .argument('<app>', 'app name')
    .action(async (app: string, _o, command: Command) => {
      setExit(await history({ ...opts(command), app }, ctx));
    });

  return program;
}

/** Runs `flotilla` with `argv` (the words after the program name) and returns its exit code. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  // Not commander's .version(): a program-level --version would swallow the verbs' own
  // `--version VERSION` (artifact sign/push), since global options may follow the verb.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    ctx.out.write(`${FLOTILLA_VERSION}\n`);
    return EXIT.OK;
  }
  let exitCode: number = EXIT.OK;
  const program = buildProgram(ctx, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    // Commander has already printed its message; --help and the help verb end with 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    return reportError(ctx, err);
  }
  return exitCode;
}
