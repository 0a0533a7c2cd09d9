import { createInterface } from 'node:readline/promises';
import { createControllerClient, type ClientFactory } from './client.js';

/** Where a verb writes: process.stdout/stderr in the program, a buffer in tests. */
export interface CliOutput {
  write(text: string): unknown;
}

/**
 * Everything a verb needs from the outside world, injected so that tests run verbs in-process
 * and assert exit code and output without a terminal, a clock or a real controller.
 */
export interface CliContext {
  readonly out: CliOutput;
  readonly err: CliOutput;
  /** Environment variables (FLOTILLA_CONTROLLER, FLOTILLA_API_TOKEN, NO_COLOR). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether `out` is a terminal: tables get colour and deploy progress updates one line in place. */
  readonly isTTY: boolean;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Waits between status polls. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Opens a client to the controller. */
  readonly connect: ClientFactory;
  /** Whether standard input is a terminal, so that a question can be answered. */
  readonly stdinIsTTY: boolean;
  /** Asks the operator one question on the terminal and resolves with the line typed. */
  readonly ask: (question: string) => Promise<string>;
}

/** The context of the real program: the process's streams, environment and clock. */
export function processContext(): CliContext {
  return {
    out: process.stdout,
    err: process.stderr,
    env: process.env,
    isTTY: process.stdout.isTTY === true,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    connect: createControllerClient,
    stdinIsTTY: process.stdin.isTTY === true,
    ask: async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
}
