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
export { EXIT, ControllerError, exitCodeFor, type ExitCode } from './errors.js';
export { resolveGlobals, DEFAULT_CONTROLLER, DEFAULT_TIMEOUT, type GlobalOptions, type RawGlobalOptions } from './options.js';
export { keysGenerate, type KeysGenerateOptions } from './commands/keys-generate.js';
export { artifactSign, signArtifactFile, type ArtifactSignOptions } from './commands/artifact-sign.js';
export { artifactPush, type ArtifactPushOptions } from './commands/artifact-push.js';
export { artifactList, type ArtifactListOptions } from './commands/artifact-list.js';
export { hosts, type HostsOptions } from './commands/hosts.js';
export { status, type StatusOptions } from './commands/status.js';
export {
  deploy,
  classifyHost,
  evaluateConvergence,
  progressLine,
  POLL_INTERVAL_MS,
  type DeployOptions,
  type HostProgressState,
} from './commands/deploy.js';
