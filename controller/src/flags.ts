import { Command } from 'commander';
import { FLOTILLA_VERSION, FlagsExitRequest, collectRepeated, parseDaemonFlags } from '@flotilla/shared';

export { FlagsExitRequest };

/** The controller's command-line flags, exactly as given (nothing defaulted here). */
export interface ControllerFlags {
  config?: string;
  nats?: string;
  grpcListen?: string;
  httpListen?: string;
  advertise?: string;
  dataDir?: string;
  trustedKey?: string[];
  controllerKey?: string;
  readyFile?: string;
  logLevel?: string;
  logPretty?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  insecure?: boolean;
}

export function controllerCommand(): Command {
  return new Command('flotilla-controller')
    .description('Flotilla control plane: stores signed releases, tracks hosts, signs their assignments.')
    .version(FLOTILLA_VERSION, '--version')
    .option('--config <file>', 'YAML config file')
    .option('--nats <urls>', 'NATS servers, comma-separated')
    .option('--grpc-listen <host:port>', 'gRPC listen address (default 127.0.0.1:7400; beyond loopback needs TLS or --insecure; port 0 picks a free port)')
    .option('--http-listen <host:port>', 'HTTP listen address for /healthz and /metrics (default 0.0.0.0:7401)')
    .option('--advertise <host>', 'the DNS name or IP others reach this controller at (published with each listener\'s port; default: the listener\'s host, or this machine\'s name when it listens on every interface)')
    .option('--data-dir <dir>', 'where artifacts are stored')
    .option('--trusted-key <path>', 'release signer public key (repeatable)', collectRepeated)
    .option('--controller-key <path>', "the controller's Ed25519 private key; signs assignments")
    .option('--tls-cert <path>', "the controller's TLS certificate (PEM)")
    .option('--tls-key <path>', "the controller's TLS private key (PEM, mode 0600)")
    .option('--tls-ca <path>', 'the CA that host and operator client certificates chain to')
    .option('--insecure', 'run open: calls without credentials pass (never on a network you do not trust)')
    .option('--ready-file <path>', 'write {pid,grpc,http} here once listening and connected')
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
export function parseControllerFlags(argv: readonly string[]): ControllerFlags {
  return parseDaemonFlags<ControllerFlags>(controllerCommand(), argv);
}

/** Shapes parsed flags like the config file, so that they win over it key by key. */
export function flagOverrides(flags: ControllerFlags): Record<string, unknown> {
  return {
    nats: { servers: flags.nats },
    grpc: { listen: flags.grpcListen },
    http: { listen: flags.httpListen },
    advertise: flags.advertise,
    dataDir: flags.dataDir,
    trustedKeys: flags.trustedKey,
    controllerKey: flags.controllerKey,
    log: { level: flags.logLevel, pretty: flags.logPretty },
    tls: flags.tlsCert || flags.tlsKey || flags.tlsCa ? { cert: flags.tlsCert, key: flags.tlsKey, ca: flags.tlsCa } : undefined,
    insecure: flags.insecure,
  };
}
