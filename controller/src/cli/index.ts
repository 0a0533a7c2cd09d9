export { runCli, buildProgram } from './program.js';
export { processContext, type CliContext, type CliOutput } from './context.js';
export {
  createControllerClient,
  translateCallError,
  UPLOAD_CHUNK_BYTES,
  type ClientFactory,
  type ConnectOptions,
  type ControllerClient,
} from './client.js';
export { EXIT, exitCodeFor, type ExitCode } from './errors.js';
export { ControllerError } from '@flotilla/shared';
export { actorOf, resolveGlobals, DEFAULT_CONTROLLER, DEFAULT_TIMEOUT, type GlobalOptions, type RawGlobalOptions } from './options.js';
export { keysGenerate, type KeysGenerateOptions } from './commands/keys-generate.js';
export { artifactSign, signArtifactFile, type ArtifactSignOptions } from './commands/artifact-sign.js';
export { artifactPush, type ArtifactPushOptions } from './commands/artifact-push.js';
export { artifactList, type ArtifactListOptions } from './commands/artifact-list.js';
export { hosts, type HostsOptions } from './commands/hosts.js';
export { status, type StatusOptions } from './commands/status.js';
export {
  deploy,
  classifyHost,
  classifyRolloutHost,
  evaluateRollout,
  progressLine,
  POLL_INTERVAL_MS,
  type DeployOptions,
  type HostProgressState,
} from './commands/deploy.js';
export { rolloutStart, type RolloutStartOptions } from './commands/rollout-start.js';
export { rolloutStatus, type RolloutStatusOptions } from './commands/rollout-status.js';
export { rolloutList, type RolloutListOptions } from './commands/rollout-list.js';
export { rolloutPause } from './commands/rollout-pause.js';
export { rolloutResume } from './commands/rollout-resume.js';
export { rolloutPromote } from './commands/rollout-promote.js';
export { rolloutAbort, type RolloutAbortOptions } from './commands/rollout-abort.js';
export { history, historyReport, type HistoryOptions } from './commands/history.js';
export { rollback, type RollbackOptions } from './commands/rollback.js';
export { events, eventsTable, DEFAULT_EVENTS_LIMIT, type EventsOptions } from './commands/events.js';
export {
  RolloutProgress,
  progressBlock,
  rolloutReport,
  watchRollout,
  WATCH_RETRY_MS,
  WATCH_UNREACHABLE_MS,
} from './commands/rollout-view.js';
