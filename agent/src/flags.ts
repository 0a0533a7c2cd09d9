import { Command, CommanderError } from 'commander';
import { ConfigError, FLOTILLA_VERSION } from '@flotilla/shared';

/** The agent's command-line flags, exactly as given (nothing defaulted here). */
export interface AgentFlags {
  config?: string;
  hostId?: string;
  label?: string[];
  nats?: string;
  controller?: string;
  dataDir?: string;
  trustedKey?: string[];
  controllerPublicKey?: string[];
  heartbeatInterval?: string;
  keepReleases?: string;
  appEnv?: string[];
  logLevel?: string;
  logPretty?: boolean;
}

/** Thrown for `--help` and `--version`: commander has printed what was asked; exit 0. */
export class FlagsExitRequest extends Error {
  constructor(readonly exitCode: number) {
    super('flags asked for help or version');
  }
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function agentCommand(): Command {
  return new Command('flotilla-agent')
    .description('Flotilla host agent: verifies, unpacks, activates and supervises signed releases.')
    .version(FLOTILLA_VERSION, '--version')
    .option('--config <file>', 'YAML config file')
    .option('--host-id <id>', 'host id (default: the hostname made valid)')
    .option('--label <key=value>', 'host label (repeatable)', collect)
    .option('--nats <urls>', 'NATS servers, comma-separated')
    .option('--controller <host:port>', 'controller gRPC address for artifact downloads')
    .option('--data-dir <dir>', 'where releases, the download cache and state.json live')
    .option('--trusted-key <path>', 'release signer public key (repeatable)', collect)
    .option('--controller-public-key <path>', 'controller public key that signs assignments (repeatable)', collect)
    .option('--heartbeat-interval <duration>', 'time between heartbeats (default 5s)')
    .option('--keep-releases <n>', 'unpacked releases kept per app (default 5)')
    .option('--app-env <app:NAME=VALUE>', "environment override for one app, wins over its manifest (repeatable)", collect)
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--log-pretty', 'human-readable log lines')
    .option('--no-log-pretty', 'JSON log lines even on a terminal')
    .allowExcessArguments(false)
    .exitOverride();
}

/**
 * Reads the agent's flags. Usage mistakes become a ConfigError (one clear line, exit 2);
 * `--help` and `--version` print and raise FlagsExitRequest.
 */
export function parseAgentFlags(argv: readonly string[]): AgentFlags {
  const command = agentCommand().configureOutput({
    // Usage errors are reported once, by the caller, as a ConfigError line.
    writeErr: () => undefined,
  });
  try {
    command.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        throw new FlagsExitRequest(0);
      }
      throw new ConfigError(`flotilla-agent: ${err.message.replace(/^error: /, '')}`, { cause: err });
    }
    throw err;
  }
  return command.opts<AgentFlags>();
}
