export { Agent, type AgentDeps, type AgentRunState } from './agent.js';
export {
  AGENT_ENV,
  DEFAULT_CONTROLLER_ADDRESS,
  DEFAULT_DATA_DIR,
  DEFAULT_NATS_SERVER,
  agentConfigFromFlags,
  agentConfigSchema,
  flagOverrides,
  loadAgentConfig,
  parseAppEnv,
  parseByteSize,
  type AgentConfig,
  type TrafficSettings,
  type UnpackLimitSettings,
} from './config.js';
export { ControlLink, decodeSignedAssignment, type AssignmentSource, type ControlLinkDeps } from './control-link.js';
export { Converger, type ConvergerDeps, type InstallProgress, type ReleaseLayout } from './converge.js';
export { FlagsExitRequest, agentCommand, parseAgentFlags, type AgentFlags } from './flags.js';
export { LoadSampler, basicInventory } from './host.js';
export { collectInventory } from './inventory.js';
export { WorkThread, type WorkThreadOptions } from './worker/thread.js';
export { decideApp, nextRetryMs, protectedVersions, type AppDecision, type AppFacts } from './plan.js';
export { INSTALL_STEPS, InstallContext, type InstallDeps, type InstallStep } from './install-steps.js';
export { runSteps, type RunStepsOptions, type Step } from './steps.js';
export { AppProcesses, appEnvironment, type AppProcessesDeps, type AppRunner, type RunningRelease } from './processes.js';
export {
  HookFailedError,
  RETRY_DELAYS_MS,
  classifyFailure,
  isAbort,
  recordFailure,
  retryDelayMs,
  retryNow,
  describeFailure,
  type FailureKind,
  type InstallFailure,
} from './retry.js';
export {
  EMPTY_STATE,
  STATE_FILE,
  StateKeeper,
  StateStore,
  sameProcess,
  writeFileAtomic,
  type AppLocalState,
  type InstallRecord,
  type LocalState,
} from './state.js';
export { MAX_REPORT_ERROR, ReportClock, appStatus, reportedApps, type AppStatusInputs } from './status.js';

// The install and process building blocks, for tests and tools that drive them directly.
export {
  ArchiveRules,
  DEFAULT_CHANNEL_OPTIONS,
  DEFAULT_DOWNLOAD_RETRY,
  DEFAULT_UNPACK_LIMITS,
  MARKER_FILE,
  ReleaseStore,
  STAGING_PREFIX,
  cleanStaging,
  createArtifactsClient,
  downloadArtifact,
  parseReleaseMarker,
  readReleaseMarker,
  unpackRelease,
  writeReleaseMarker,
  type AdmittedEntry,
  type ArtifactsClientOptions,
  type DownloadOptions,
  type EntryHeader,
  type EntryKind,
  type PruneOptions,
  type ReleaseInfo,
  type ReleaseMarker,
  type RetryPolicy,
  type UnpackLimits,
  type UnpackOptions,
  type UnpackResult,
  type UnsafeArchiveRule,
} from './install/index.js';
export {
  AppSupervisor,
  DEFAULT_RESTART_POLICY,
  HealthChecker,
  HealthTracker,
  backoffDelay,
  baseEnv,
  decideRestart,
  identityOf,
  isSameProcessAlive,
  probeHealth,
  releaseEnv,
  resolveRestartPolicy,
  runCommand,
  type HealthCheckerOptions,
  type HealthThresholds,
  type ProbeContext,
  type ProbeResult,
  type ProcessExit,
  type ProcessIdentity,
  type ProcessSnapshot,
  type RestartDecision,
  type RestartPolicy,
  type RunCommandOptions,
  type RunCommandResult,
  type SupervisedRelease,
  type SupervisorDeps,
} from './process/index.js';
export {
  NginxUpstreams,
  SLOT_NAMES,
  Traffic,
  UPSTREAM_MARKER,
  otherSlot,
  renderUpstream,
  slotAddress,
  slotEnv,
  splitWeights,
  upstreamName,
  type SlotName,
  type SlotWeight,
  type TrafficShifter,
} from './traffic/index.js';
