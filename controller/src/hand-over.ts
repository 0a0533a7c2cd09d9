import { Metadata, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import type { OperatorControlHandlers } from './grpc/identity-service.js';
import { ERROR_CODE_METADATA, UnavailableError, errorClassFor, toFlotillaError, type Logger } from '@flotilla/shared';
import type { Alarm, AlarmOutcome, AlarmSink } from './alarms/types.js';
import type { CommandExecutor, CommandResult, HandedCommand } from './cluster/inbox.js';

/**
 * Writes that a follower hands to the leader: the operator's calls that change the fleet, and
 * artifact deletion (retention decides by the leader's view of rollouts and assignments). Reads
 * (status, lists, history, watches) and downloads are served by every controller from the store.
 */
export const HANDED_OVER_CALLS = ['Deploy', 'StartRollout', 'RolloutCommand', 'Rollback', 'CollectArtifacts', 'RemoveArtifact'] as const;
/** Calls whose dry run changes nothing and so runs on the controller asked. */
const DRY_RUNS: readonly string[] = ['StartRollout', 'CollectArtifacts'];
type HandedOverCall = (typeof HANDED_OVER_CALLS)[number];

/** What the hand-over needs of leadership and of the command stream. */
export interface HandOverDeps {
  isLeader(): boolean;
  submitAndWait(kind: string, body: unknown, timeoutMs: number): Promise<{ id: string; result: CommandResult | null }>;
}

const GRPC_KIND = 'grpc:';
const ALARM_KIND = 'alarm';

/**
 * Wraps the Control service: on the leader a write runs here as before; on a follower it is
 * queued for the leader and the caller gets the leader's answer (or UNAVAILABLE, saying it is
 * queued, when none comes within `waitMs`).
 */
export function handOverControl(handlers: OperatorControlHandlers, deps: HandOverDeps, waitMs: number): OperatorControlHandlers {
  const wrapped: Record<string, unknown> = { ...handlers };
  for (const name of HANDED_OVER_CALLS) {
    const local = handlers[name] as unknown as UnaryHandler;
    wrapped[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const dryRun = DRY_RUNS.includes(name) && (call.request as { dry_run?: boolean }).dry_run === true;
      if (dryRun || deps.isLeader()) return local(call, callback);
      void deps.submitAndWait(`${GRPC_KIND}${name}`, call.request, waitMs).then(
        ({ id, result }) => {
          if (!result) {
            const err = new UnavailableError(
              `the leader has not answered within ${waitMs} ms; the ${name} is queued (command ${id}) and the leader will carry it out: check with flotilla status`,
            );
            return callback(serviceError(status.UNAVAILABLE, err.code, err.message));
          }
          if (result.ok) return callback(null, result.value);
          callback(serviceError(result.error.grpcStatus ?? status.UNKNOWN, result.error.code, result.error.message));
        },
        (err: unknown) => {
          const fe = toFlotillaError(err);
          callback(serviceError(status.UNAVAILABLE, fe.code, fe.message));
        },
      );
    };
  }
  return wrapped as unknown as OperatorControlHandlers;
}

/**
 * An alarm sink for the alert webhooks: the leader acts on an alarm at once; a follower queues it
 * durably (the webhook's 202 then means "the leader will act on it") and waits a moment for the
 * leader's outcome to report it.
 */
export class HandOverAlarmSink implements AlarmSink {
  constructor(
    private readonly local: AlarmSink,
    private readonly deps: HandOverDeps,
    private readonly waitMs: number,
  ) {}

  knowsApp(app: string): Promise<boolean> {
    return this.local.knowsApp(app);
  }

  async raise(alarm: Alarm): Promise<AlarmOutcome> {
    if (this.deps.isLeader()) return this.local.raise(alarm);
    const { id, result } = await this.deps.submitAndWait(ALARM_KIND, alarm, this.waitMs);
    if (result?.ok) return result.value as AlarmOutcome;
    return { action: 'queued', message: `handed to the leader as command ${id}; it reverts the fleet if the alarm calls for it` };
  }
}

type UnaryHandler = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

/** Carries out handed-over commands on the leader with the same code a direct call runs. */
export function leaderExecutor(handlers: OperatorControlHandlers, alarms: AlarmSink, logger: Logger): CommandExecutor {
  return async (command: HandedCommand): Promise<CommandResult> => {
    if (command.kind === ALARM_KIND) {
      try {
        return { ok: true, value: await alarms.raise(command.body as Alarm) };
      } catch (err) {
        const fe = toFlotillaError(err);
        return { ok: false, error: { code: fe.code, message: fe.message } };
      }
    }
    const name = command.kind.startsWith(GRPC_KIND) ? command.kind.slice(GRPC_KIND.length) : '';
    if (!(HANDED_OVER_CALLS as readonly string[]).includes(name)) {
      logger.error({ kind: command.kind }, 'unknown command kind; dropping it');
      return { ok: false, error: { code: 'FLOTILLA_ERR_VALIDATION', message: `unknown command kind "${command.kind}"` } };
    }
    const handler = handlers[name as HandedOverCall] as unknown as UnaryHandler;
    return new Promise<CommandResult>((resolve) => {
      const call = { request: command.body, metadata: new Metadata(), cancelled: false } as unknown as ServerUnaryCall<unknown, unknown>;
      handler(call, (err, value) => {
        if (!err) return resolve({ ok: true, value });
        const code = err.metadata?.get(ERROR_CODE_METADATA)[0];
        resolve({
          ok: false,
          error: {
            code: typeof code === 'string' ? code : 'FLOTILLA_ERR_INTERNAL',
            message: (err as { details?: string }).details ?? (err as { message?: string }).message ?? 'failed',
            ...(typeof err.code === 'number' ? { grpcStatus: err.code } : {}),
          },
        });
      });
    });
  };
}

function serviceError(grpcStatus: number, code: string, message: string) {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA, errorClassFor(code) ? code : 'FLOTILLA_ERR_INTERNAL');
  return Object.assign(new Error(message), { code: grpcStatus, details: message, metadata });
}
