export { AppLedger, type AppLedgerOptions, type ArtifactLookup, type BadUse, type StableBy } from './ledger.js';
export { appHistory, type AppHistory } from './history-view.js';
export { previousStable, type StableChange } from './stable-rule.js';
export {
  EVENTS_KEPT,
  HISTORY_ROLLOUTS_KEPT,
  HISTORY_STABLE_KEPT,
  eventsKey,
  historyKey,
  summarise,
  type AppEventAction,
  type AppEventRecord,
  type AppEventsRecord,
  type AppHistoryRecord,
  type NewAppEvent,
  type RolloutSummaryRecord,
  type StablePeriodRecord,
} from './records.js';
