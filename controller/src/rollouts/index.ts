export { RolloutManager, type RolloutLedger, type RolloutManagerOptions } from './manager.js';
export { LiveRollout, type LiveRolloutDeps, type ReleaseSource } from './live-rollout.js';
export { OPERATOR_COMMANDS, checkActor, type OperatorCommand } from './operator.js';
export type {
  LiveAlarmResult,
  RolloutAssigner,
  RolloutHostSource,
  RolloutTimers,
  RolloutWatcher,
  TransitionStats,
} from './types.js';
export { RolloutStore, rolloutBuckets, type RolloutBuckets } from './store.js';
export {
  DEFLATE_MARKER,
  PLAIN_UP_TO,
  STATE_FORMAT,
  STATE_VALUE_LIMIT,
  decodeRolloutState,
  encodeRolloutState,
  rolloutStateCodec,
  type EncodeOptions,
} from './state-codec.js';
export { activeKey, appOfRolloutId, rolloutId, rolloutKey, type ActiveRolloutRecord } from './records.js';
