export { AlarmHandler, type AlarmHandlerOptions, type AlarmLedger } from './alarm-handler.js';
export {
  planAlarm,
  rollbackEpisode,
  rolloutEpisode,
  stableEpisode,
  type AlarmPlan,
  type AlarmSituation,
  type FinishedRolloutFacts,
  type RevertFacts,
} from './alarm-plan.js';
export { revertKey, revertSchema, type RevertCause, type RevertRecord } from './records.js';
export { RevertPath, type RevertAssigner, type RevertLedger, type RevertPathOptions, type RevertRequest, type Reverted } from './revert-path.js';
export { Rollbacks, type RollbackLedger, type RollbackRequest, type RollbackResult, type RollbacksOptions } from './rollback.js';
export { RevertStore } from './store.js';
export type { RolloutTriggers } from './triggers.js';
