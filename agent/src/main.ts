// First, so that V8 runs everything after it (module loading included) with the agent's
// footprint settings: ES modules evaluate in import order.
import './footprint-start.js';
import { ConfigError, createLogger, errorMessage, type Logger } from '@flotilla/shared';
import { Agent } from './agent.js';
import { loadAgentConfig, type AgentConfig } from './config.js';
import { FlagsExitRequest } from './flags.js';

function flush(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** flotilla-agent's entry point; resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let config: AgentConfig;
  try {
    config = loadAgentConfig(argv, process.env);
  } catch (err) {
    if (err instanceof FlagsExitRequest) return err.exitCode;
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const logger = createLogger({
    name: 'flotilla-agent',
    level: config.log.level,
    ...(config.log.pretty !== undefined ? { pretty: config.log.pretty } : {}),
  });
  // Fault injection for the project's own tests; unset in any real deployment.
  const killAfterStep = process.env.FLOTILLA_FAULT_KILL_AFTER_STEP;
  const agent = await Agent.create(config, { logger, ...(killAfterStep ? { killAfterStep } : {}) });

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second Ctrl-C means the operator will not wait; the apps run on regardless. A repeated
      // SIGTERM (service managers and `timeout` may send more than one) changes nothing.
      if (signal === 'SIGINT') {
        logger.warn({ signal }, 'second interrupt; exiting at once');
        void flush(logger).then(() => process.exit(1));
      }
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void agent.shutdown();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await agent.run();
  } catch (err) {
    process.stderr.write(`flotilla-agent: ${errorMessage(err)}\n`);
    await flush(logger);
    return 1;
  }
  logger.info('agent stopped');
  await flush(logger);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`flotilla-agent: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
