import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetStatusResponse__Output, ListArtifactsResponse__Output } from '@flotilla/proto';
import { CLUSTER_CONTROLLER_CONFIG } from './cluster-scenarios.js';
import { ControllerProcess, controllerClients, downloadArtifact, unaryCall } from './controller-process.js';
import { deadlineFlag } from './deadline.js';
import { Fleet, runCli } from './fleet.js';
import { startNatsCluster, startNatsServer, type NatsCluster } from './nats-server.js';

// A single-node controller's state moved onto a new three-node cluster with `flotilla nats
// migrate`, and a controller started on the cluster (with a fresh data dir) carrying on from it.
let fleet: Fleet;
let cluster: NatsCluster;
let onCluster: ControllerProcess | undefined;
let seqsBefore: Map<string, number>;

beforeAll(async () => {
  fleet = await Fleet.start({ nats: await startNatsServer(), agents: 2, heartbeatInterval: '500ms' });
  await fleet.waitForHostsUp();
  await fleet.push('1.0.0');
  await fleet.run(['deploy', 'demo@1.0.0', '--wait-timeout', deadlineFlag(60)]);
  await fleet.push('2.0.0');
  seqsBefore = await fleet.seqs();
  cluster = await startNatsCluster(3);
});

afterAll(async () => {
  await onCluster?.stop();
  await fleet?.stop();
  await cluster?.stop();
});

const migrate = (args: string[] = []) => runCli(['nats', 'migrate', '--from', fleet.nats.url, '--to', cluster.urls, ...args], { cwd: fleet.dir });

describe('flotilla nats migrate', () => {
  it('copies every bucket to the cluster with three replicas, idempotently, and refuses to overwrite other data', async () => {
    // The single controller stops first: its state must be still while it is copied.
    await fleet.controller.stop();
    const first = await migrate();
    expect(first.code, first.stderr).toBe(0);
    const assignmentShards = Array.from({ length: 8 }, (_, i) => `KV_flotilla_assignments_${i}`);
    for (const stream of ['KV_flotilla_apps', 'KV_flotilla_artifacts', ...assignmentShards, 'KV_flotilla_hosts', 'KV_flotilla_rollouts', 'OBJ_flotilla_releases']) {
      expect(first.stdout).toMatch(new RegExp(`^${stream}\\s+copied\\s`, 'm'));
    }
    expect(first.stdout).toMatch(/every copy matches its source/);

    const nc = await connect({ servers: cluster.urls.split(','), name: 'test-migrate-probe' });
    try {
      const jsm = await jetstreamManager(nc);
      for await (const s of jsm.streams.list()) {
        if (s.config.name.includes('flotilla_')) expect(s.config.num_replicas, s.config.name).toBe(3);
      }
      // Run again: nothing to do.
      const again = await migrate(['--json']);
      expect(again.code, again.stderr).toBe(0);
      const report = JSON.parse(again.stdout) as { streams: { stream: string; outcome: string }[] };
      expect(report.streams.length).toBeGreaterThanOrEqual(13);
      expect(report.streams.filter((s) => s.outcome !== 'present').map((s) => s.stream)).toEqual([]);

      // The target changed since: refused, then replaced when told.
      const apps = await new Kvm(nc).open('flotilla_apps');
      await apps.put('intruder', '{}');
      const refused = await migrate();
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/KV_flotilla_apps .*--force/);
      const forced = await migrate(['--force']);
      expect(forced.code, forced.stderr).toBe(0);
      expect(forced.stdout).toMatch(/^KV_flotilla_apps\s+copied\s/m);
      expect(await apps.get('intruder')).toBeNull();
    } finally {
      await nc.close();
    }
  });

  it('leaves the cluster with what a controller needs: apps, stable versions, assignments and release bytes', async () => {
    const config = join(fleet.dir, 'on-cluster.yaml');
    await writeFile(config, CLUSTER_CONTROLLER_CONFIG);
    onCluster = await ControllerProcess.start({
      natsUrl: cluster.urls,
      dir: join(fleet.dir, 'on-cluster'),
      controllerKey: fleet.controllerKey.keyPath,
      trustedKeys: [fleet.releaseKey.pubPath],
      args: ['--config', config],
    });
    const clients = controllerClients(onCluster.grpc);
    try {
      const status = await unaryCall<object, GetStatusResponse__Output>(clients.control, 'GetStatus', {});
      const demo = status.apps.find((a) => a.name === 'demo');
      expect(demo?.stable_version).toBe('1.0.0');
      expect(demo?.versions).toEqual(['1.0.0', '2.0.0']);
      expect(status.hosts.map((h) => h.host_id).sort()).toEqual(fleet.agents.map((a) => a.hostId).sort());
      // Each host's assignment as the single controller last signed it.
      for (const h of status.hosts) expect(Number(h.assignment_seq), h.host_id).toBe(seqsBefore.get(h.host_id));
      const listed = await unaryCall<object, ListArtifactsResponse__Output>(clients.control, 'ListArtifacts', { app: 'demo' });
      for (const a of listed.artifacts) {
        // A fresh data dir: the bytes come from the cluster's object store, checked by hash.
        const got = await downloadArtifact(clients.artifacts, a.sha256);
        expect(got.data.length).toBe(Number(a.size));
      }
    } finally {
      clients.close();
    }
  });
});
