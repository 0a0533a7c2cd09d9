import { Command } from 'commander';
import { FLOTILLA_VERSION, FlagsExitRequest, collectRepeated, parseDaemonFlags } from '@flotilla/shared';

export { FlagsExitRequest };

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

export function agentCommand(): Command {
  return new Command('flotilla-agent')
    .description('Flotilla host agent: verifies, unpacks, activates and supervises signed releases.')
    .version(FLOTILLA_VERSION, '--version')
    .option('--config <file>', 'YAML config file')
    .option('--host-id <id>', 'host id (default: the hostname made valid)')
    .option('--label <key=value>', 'host label (repeatable)', collectRepeated)
    .option('--nats <urls>', 'NATS servers, comma-separated')
    .option('--controller <host:port>', 'controller gRPC addresses for artifact downloads, comma-separated (tried in turn)')
    .option('--data-dir <dir>', 'where releases, the download cache and state.json live')
    .option('--trusted-key <path>', 'release signer public key (repeatable)', collectRepeated)
    .option('--controller-public-key <path>', 'controller public key that signs assignments (repeatable)', collectRepeated)
    .option('--heartbeat-interval <duration>', 'time between heartbeats (default 5s)')
    .option('--keep-releases <n>', 'unpacked releases kept per app (default 5)')
    .option('--app-env <app:NAME=VALUE>', "environment override for one app, wins over its manifest (repeatable)", collectRepeated)
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--log-pretty', 'human-readable log lines')
    .option('--no-log-pretty', 'JSON log lines even on a terminal')
    .allowExcessArguments(false)
    .exitOverride();
}

/**
 * Reads the flags. Usage mistakes become a ConfigError (one clear line, exit 2);
 * `--help` and `--version` print and raise FlagsExitRequest.
 */
export function parseAgentFlags(argv: readonly string[]): AgentFlags {
  return parseDaemonFlags<AgentFlags>(agentCommand(), argv);
}
