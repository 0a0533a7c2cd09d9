export { AppSupervisor, type SupervisorDeps } from './supervisor.js';
export {
  DEFAULT_RESTART_POLICY,
  backoffDelay,
  decideRestart,
  resolveRestartPolicy,
  type RestartDecision,
  type RestartPolicy,
} from './restart-policy.js';
export {
  HealthChecker,
  HealthTracker,
  probeHealth,
  type HealthCheckerOptions,
  type HealthThresholds,
  type ProbeContext,
  type ProbeResult,
} from './health.js';
export { baseEnv, checkStartable, releaseEnv, runCommand, type RunCommandOptions, type RunCommandResult } from './command.js';
export { PROCESS_MARK_VAR, findMarkedProcesses, identityOf, isSameProcessAlive, signalGroup, type MarkedProcess } from './proc.js';
export { DEFAULT_APP_USER, chooseAppUser, lookupUser, parsePasswdLine, type AppUser, type AppUserChoice, type UserLookup } from './app-user.js';
export type { ProcessExit, ProcessIdentity, ProcessSnapshot, SupervisedRelease } from './types.js';
