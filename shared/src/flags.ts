import { Command, CommanderError } from 'commander';
import { ConfigError } from './errors.js';

/** Thrown for `--help` and `--version`: commander has printed what was asked; exit 0. */
export class FlagsExitRequest extends Error {
  constructor(readonly exitCode: number) {
    super('flags asked for help or version');
  }
}

/** Commander option collector for repeatable flags (`--trusted-key a --trusted-key b`). */
export function collectRepeated(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Parses a daemon's flags with `command` (built with `.exitOverride()`). Usage mistakes become a
 * ConfigError naming the program (one clear line, exit 2, reported once by the caller);
 * `--help` and `--version` print and raise FlagsExitRequest.
 */
export function parseDaemonFlags<T extends object>(command: Command, argv: readonly string[]): T {
  command.configureOutput({ writeErr: () => undefined });
  try {
    command.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        throw new FlagsExitRequest(0);
      }
      throw new ConfigError(`${command.name()}: ${err.message.replace(/^error: /, '')}`, { cause: err });
    }
    throw err;
  }
  return command.opts<T>();
}
