export type {
  Actor,
  Decision,
  HostProgress,
  HostState,
  PauseReason,
  PlanHost,
  ReportSummary,
  RolloutAction,
  RolloutCounters,
  RolloutEvent,
  RolloutLogEntry,
  RolloutLogKind,
  RolloutSpec,
  RolloutSpecInput,
  RolloutState,
  RolloutStatus,
  RolloutStrategy,
  StepProgress,
  StepSize,
  TrafficTarget,
} from './types.js';
export { FINISHED_STATUSES } from './types.js';
export {
  formatPlan,
  formatStepSize,
  orderHosts,
  parseFailureLimit,
  parseStepSize,
  parseSteps,
  planSteps,
  resolveFailureLimit,
  resolveStepSize,
  stepTargets,
} from './plan.js';
export { makeRolloutSpec, ROLLOUT_DEFAULTS } from './spec.js';
export {
  ACTION_RETRY_MS,
  countHosts,
  decide,
  findHost,
  isActive,
  isFinished,
  LOG_KEPT,
  nextWakeMs,
  REPORT_ERROR_KEPT,
  startRollout,
} from './engine.js';
export { HostTable } from './host-table.js';
export { fieldsOf, hostTableOf, stateOf, type RolloutFields } from './state.js';
