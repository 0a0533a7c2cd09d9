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
  type TransitionStats,
} from './manager.js';
export { RolloutStore, rolloutBuckets, type RolloutBuckets } from './store.js';
export {
  HISTORY_ROLLOUTS_KEPT,
  activeKey,
  appOfRolloutId,
  historyKey,
  rolloutId,
  rolloutKey,
  summarise,
  type ActiveRolloutRecord,
  type AppHistoryRecord,
  type RolloutSummaryRecord,
  type StablePeriodRecord,
} from './records.js';
