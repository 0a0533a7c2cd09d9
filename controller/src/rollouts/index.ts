export {
  RolloutManager,
  OPERATOR_COMMANDS,
  checkActor,
  type AppHistory,
  type ArtifactLookup,
  type OperatorCommand,
  type RolloutAssigner,
  type RolloutHostSource,
  type RolloutManagerOptions,
  type RolloutTimers,
  type RolloutWatcher,
  type LiveAlarmResult,
  type TransitionStats,
} from './manager.js';
export { RevertManager, type RevertAssigner, type RevertManagerOptions, type RollbackRequest, type RollbackResult } from './reverts.js';
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
export { RolloutStore, rolloutBuckets, type RolloutBuckets } from './store.js';
export { RolloutStateBucket } from './state-bucket.js';
export {
  DEFLATE_MARKER,
  PLAIN_UP_TO,
  STATE_FORMAT,
  STATE_VALUE_LIMIT,
  decodeRolloutState,
  encodeRolloutState,
  type EncodeOptions,
} from './state-codec.js';
export {
  EVENTS_KEPT,
  HISTORY_ROLLOUTS_KEPT,
  activeKey,
  appOfRolloutId,
  eventsKey,
  historyKey,
  revertKey,
  rolloutId,
  rolloutKey,
  summarise,
  type ActiveRolloutRecord,
  type AppEventAction,
  type AppEventRecord,
  type AppEventsRecord,
  type AppHistoryRecord,
  type RevertCause,
  type RevertRecord,
  type RolloutSummaryRecord,
  type StablePeriodRecord,
} from './records.js';
