// The work thread (started by WorkThread): downloads and unpacks releases, and collects the
// inventory, away from the agent's main thread. Its heap is its own, so the garbage of moving a
// gigabyte is collected cheaply and handed back when the thread ends, and gRPC, protobuf, tar and
// systeminformation are never loaded into the agent's resident heap.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, ipTargetTls } from '@flotilla/shared';
import { createArtifactsClient, downloadArtifact } from '../install/download.js';
import { unpackRelease } from '../install/unpack.js';
import { collectInventory } from '../inventory.js';
import { serializeError, type FromWorkThread, type DownloadTask, type ToWorkThread, type WorkTask, type WorkThreadData } from './protocol.js';

const data = workerData as WorkThreadData;
const port = parentPort;
if (port === null) throw new Error('the work thread must run as a worker thread');
const logger = createLogger({ name: 'flotilla-agent', level: data.log.level, ...(data.log.pretty !== undefined ? { pretty: data.log.pretty } : {}) });
const running = new Map<number, AbortController>();

function send(message: FromWorkThread): void {
  try {
    port!.postMessage(message);
  } catch (err) {
    // Something that cannot be cloned. A failure still goes back as its class (name and code: an
    // integrity failure must not become a retried one); a result that cannot cross fails the task
    // rather than leave its caller waiting.
    const error =
      message.type === 'failed'
        ? { name: message.error.name, message: message.error.message, ...(message.error.code !== undefined ? { code: message.error.code } : {}) }
        : serializeError(err);
    port!.postMessage({ type: 'failed', id: message.id, error } satisfies FromWorkThread);
  }
}

/** One client per controller address for the thread's life: a download resumed or retried reuses its connection. */
const clients = new Map<string, ReturnType<typeof createArtifactsClient>>();

function clientFor(address: string, tls: DownloadTask['tls']): ReturnType<typeof createArtifactsClient> {
  let client = clients.get(address);
  if (!client) {
    // The host's certificate is its credential: the controller lets it download only what is
    // assigned to it. Files are read once per thread; a renewed certificate is used from the
    // next agent start (or the next thread).
    const ipTarget = tls ? ipTargetTls(address) : undefined;
    const credentials = tls
      ? grpc.credentials.createSsl(
          readFileSync(tls.ca),
          readFileSync(tls.key),
          readFileSync(tls.cert),
          ipTarget ? { checkServerIdentity: ipTarget.checkServerIdentity } : {},
        )
      : undefined;
    client = createArtifactsClient(address, {
      ...(credentials ? { credentials } : {}),
      ...(ipTarget ? { channelOptions: { 'grpc.ssl_target_name_override': ipTarget.servernameOverride } } : {}),
    });
    clients.set(address, client);
  }
  return client;
}

async function run(task: WorkTask, signal: AbortSignal): Promise<unknown> {
  switch (task.kind) {
    case 'download': {
      const { controller, tls, ...options } = task.options;
      return downloadArtifact({ ...options, client: clientFor(controller, tls), logger, signal });
    }
    case 'unpack':
      return unpackRelease({ ...task.options, logger, signal });
    case 'inventory':
      return collectInventory(logger);
  }
}

port.on('message', (message: ToWorkThread) => {
  switch (message.type) {
    case 'run': {
      const controller = new AbortController();
      running.set(message.id, controller);
      run(message.task, controller.signal).then(
        (result) => send({ type: 'done', id: message.id, result }),
        (err: unknown) => send({ type: 'failed', id: message.id, error: serializeError(err) }),
      ).finally(() => running.delete(message.id));
      break;
    }
    case 'abort':
      running.get(message.id)?.abort(Object.assign(new Error(message.reason), { name: 'AbortError' }));
      break;
    case 'exit':
      for (const c of running.values()) c.abort(Object.assign(new Error('the work thread is ending'), { name: 'AbortError' }));
      for (const client of clients.values()) client.close();
      logger.flush(() => process.exit(0));
      break;
  }
});
