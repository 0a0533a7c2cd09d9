export type { Alarm, AlarmAction, AlarmOutcome, AlarmSink } from './types.js';
export {
  ALERTMANAGER_PAYLOAD_VERSION,
  ALERTMANAGER_SOURCE,
  alarmFromAppAlerts,
  alertmanagerPayloadSchema,
  digestAlertmanagerPayload,
  parseAlertmanagerPayload,
  type AlertmanagerAlert,
  type AlertmanagerDigest,
  type AlertmanagerPayload,
  type AppAlerts,
} from './alertmanager.js';
export { GENERIC_SOURCE, alarmFromGenericAlert, genericAlertSchema, parseGenericAlert, type GenericAlert } from './generic.js';
export {
  ALERTMANAGER_PATH,
  DEFAULT_APP_LABEL,
  DEFAULT_MAX_BODY_BYTES,
  GENERIC_ALERT_PATH,
  alertRoutes,
  type AlertAnswer,
  type AlertRoute,
  type AlertRoutesOptions,
  type AppResult,
} from './webhooks.js';
export { BUILTIN_KINDS, builtinSource, type BuiltinAlarmKind } from './builtin/kinds.js';
export { NO_EPISODE, stepEpisode, type ConditionReading, type Episode, type EpisodeStep } from './builtin/episode.js';
export { type HostAppSample, type RestartSample } from './builtin/samples.js';
export {
  BuiltinEvaluator,
  type AppAlarmSnapshot,
  type BuiltinDecision,
  type BuiltinEvent,
  type BuiltinResult,
} from './builtin/evaluator.js';
export { BuiltinAlarms, type BuiltinAlarmsOptions, type HostFeed, type HostFeedEvent } from './builtin/driver.js';
export { AssignedHostCounts, type AssignmentIndex } from './builtin/assigned-counts.js';
export { countedReports, type AssignedVersions, type CountedReports, type IgnoredReason } from './builtin/counted.js';
export {
  ALARMS_ENV,
  ALARM_DEFAULTS,
  DEFAULT_ALARMS_CONFIG,
  alarmPolicyFor,
  alarmsConfigSchema,
  alertsConfigSchema,
  type AlarmsConfig,
  type AlertsConfig,
  type AppAlarmPolicy,
  type CrashLoopAlarmSettings,
  type HealthAlarmSettings,
  type ResourceAlarmSettings,
} from './config.js';
export { AlarmMetrics } from './metrics.js';
