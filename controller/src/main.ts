import { ConfigError, createLogger, errorMessage } from '@flotilla/shared';
import { PROGRAM, loadControllerConfig, type ControllerConfig } from './config.js';
import { Controller } from './controller.js';
import { FlagsExitRequest, flagOverrides, parseControllerFlags, type ControllerFlags } from './flags.js';
import { removeReadyFile, writeReadyFile } from './ready-file.js';
import { startRetry } from './start-retry.js';

/** Exit codes: 0 clean stop, 1 a failure while running, 2 bad flags or config. */
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_CONFIG = 2;

function fail(code: number, message: string): never {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  process.exit(code);
}

async function main(argv: readonly string[]): Promise<number> {
  let flags: ControllerFlags;
  let config: ControllerConfig;
  try {
    flags = parseControllerFlags(argv);
    config = loadControllerConfig({ file: flags.config, overrides: flagOverrides(flags) });
  } catch (err) {
    if (err instanceof FlagsExitRequest) return err.exitCode;
    if (err instanceof ConfigError) fail(EXIT_CONFIG, err.message.replace(new RegExp(`^${PROGRAM}:? `), ''));
    throw err;
  }

  const logger = createLogger({ name: PROGRAM, level: config.log.level, pretty: config.log.pretty });
  const readyFile = flags.readyFile;
  if (readyFile) await removeReadyFile(readyFile);

  // Fault injection for the project's own tests; unset in any real deployment. The controller
  // dies as a SIGKILL would kill it, between a revert's record and its assignments.
  const killAfterRevertRecord = () => {
    logger.warn({}, 'fault injection: killing the controller after writing a revert record');
    process.kill(process.pid, 'SIGKILL');
  };
  const fault = process.env.FLOTILLA_FAULT_KILL_AFTER_REVERT_RECORD === '1' ? { afterRevertRecord: killAfterRevertRecord } : {};
  let controller: Controller | undefined;
  // Bounded by START_ATTEMPTS: startRetry says no once they are used up.
  for (let attempt = 1; controller === undefined; attempt++) {
    try {
      controller = await Controller.create(config, { logger, ...fault });
    } catch (err) {
      const next = startRetry(err, attempt);
      if (next.retry) {
        logger.warn({ err, attempt, delayMs: next.delayMs }, 'controller start timed out on NATS; starting again');
        await new Promise((resolve) => setTimeout(resolve, next.delayMs));
        continue;
      }
      logger.fatal({ err }, 'controller failed to start');
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
      fail(err instanceof ConfigError ? EXIT_CONFIG : EXIT_FAILED, errorMessage(err));
    }
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      // A second signal means "now": the operator gave up waiting for the graceful stop.
      process.stderr.write(`${PROGRAM}: ${signal} again, exiting at once\n`);
      process.exit(EXIT_FAILED);
    }
    logger.info({ signal }, 'signal received; shutting down');
    void controller.shutdown();
  };
  // SIGHUP rereads the TLS files: renewed certificates without a restart.
  process.on('SIGHUP', () => void controller.reloadCertificates());
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const done = controller.run();
  await controller.whenRunning();
  if (readyFile) {
    const { grpc, http } = controller.addresses;
    await writeReadyFile(readyFile, { pid: process.pid, grpc, http });
  }
  await done;
  if (readyFile) await removeReadyFile(readyFile).catch(() => undefined);
  return controller.state === 'stopped' ? EXIT_OK : EXIT_FAILED;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${PROGRAM}: ${errorMessage(err)}\n`);
    process.exit(EXIT_FAILED);
  },
);
