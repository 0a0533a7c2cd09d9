import { ValidationError } from '@flotilla/shared';

export type OperatorCommand = 'pause' | 'resume' | 'promote' | 'abort';
export const OPERATOR_COMMANDS: readonly OperatorCommand[] = ['pause', 'resume', 'promote', 'abort'];

/** Who may be named as an actor (it lands in logs and the event log). */
const ACTOR = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

/** Checks the name of who asks; the event log and logs carry it. */
export function checkActor(actor: string | undefined): string {
  const name = (actor ?? '').trim();
  if (name === '') return 'unknown';
  if (!ACTOR.test(name)) {
    throw new ValidationError(`actor "${name}" is invalid: use up to 64 letters, digits, '.', '_', '@', '+' or '-'`);
  }
  return name;
}
