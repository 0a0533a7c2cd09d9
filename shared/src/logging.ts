import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Paths pino blanks out in every line. Secrets in Flotilla live under these names only; keep new
 * ones (tokens, passwords, keys' contents) under them too.
 */
export const REDACT_PATHS = [
  'password',
  'token',
  'authorization',
  'privateKey',
  '*.password',
  '*.token',
  '*.authorization',
  '*.privateKey',
  '*.*.password',
  '*.*.token',
  'headers.authorization',
  'req.headers.authorization',
];

export interface LoggerConfig {
  /** Program name, logged as `name` on every line. */
  name: string;
  /** @default 'info' */
  level?: LogLevel;
  /** Human-readable lines (pino-pretty). @default true when the destination is a terminal */
  pretty?: boolean;
  /** @default standard output (file descriptor 1) */
  fd?: 1 | 2;
  /** A stream to write to instead of a file descriptor (tests). */
  destination?: DestinationStream;
}

/** The one root logger of a program. Modules take `logger.child({ component })`. */
export function createLogger(config: LoggerConfig): Logger {
  const fd = config.fd ?? 1;
  const options: LoggerOptions = {
    name: config.name,
    level: config.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (config.destination) return pino(options, config.destination);
  const tty = fd === 1 ? process.stdout.isTTY : process.stderr.isTTY;
  if (config.pretty ?? tty) {
    // pino-pretty as an in-process stream rather than a worker transport: one thread less on
    // every host, and lines come out in order with anything else the program prints.
    const require = createRequire(import.meta.url);
    const pretty = require('pino-pretty') as (o: object) => DestinationStream;
    return pino(options, pretty({ destination: fd, colorize: tty, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(options, pino.destination({ fd, sync: false }));
}
