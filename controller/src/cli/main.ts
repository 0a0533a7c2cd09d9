// Entry point of `flotilla` (bin/flotilla.js imports this file). Everything testable lives in
// program.ts; this file only binds it to the process.
import { processContext } from './context.js';
import { EXIT } from './errors.js';
import { runCli } from './program.js';

// `flotilla hosts | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.OK);
  throw err;
});

// Ctrl-C while deploy waits stops the waiting, not the deploy: say so, so nobody assumes a revert.
process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: whatever the controller already accepted stands (see flotilla status)\n');
  process.exit(130);
});

process.exitCode = await runCli(process.argv.slice(2), processContext());
