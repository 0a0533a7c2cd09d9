// TLS on, as shipped: the benchmark measures the controller the way a fleet runs it. nats-server
// asks every client for a certificate from the fleet's CA (mutual TLS) and knows one user per
// role, each with the permissions `flotilla nats config` generates (nats-auth-config.ts); the
// controller serves gRPC and HTTPS with its certificate and names its operators; real agents
// get their own host certificate and NATS user.
//
// One departure, on the simulator's side only: thousands of simulated hosts share a few NATS
// connections (bench/README in docs/performance.md), so they connect as one `sim` user allowed
// every host's subjects. The controller's side is the shipped one: its host-facing user may
// answer only the inboxes of the hosts listed, each host id checked against its subject.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  CONTROLLER_HOSTS_NATS_USER,
  CONTROLLER_NATS_USER,
  controllerPermissions,
  hostFacingPermissions,
  hostPermissions,
  natsUserBlock,
} from '@flotilla/controller';
import { subjects as makeSubjects } from '@flotilla/shared';
import type { HttpTarget } from '../controller-process.js';
import { runCli } from '../fleet.js';
import type { SimNatsAuth } from '../sim/index.js';

/** The NATS user the simulator's shared connections log in as. */
export const SIM_NATS_USER = 'sim';
const OPERATOR = 'bench';
const JETSTREAM_SUBJECTS = ['$JS.>', '$KV.>', '$O.>', '$SYS.>'];

export interface SecureOptions {
  /** Host ids the simulator plays: the controller's host-facing user may answer their inboxes. */
  simHostIds?: readonly string[];
  /** Host ids of real agents: each gets a certificate and its own NATS user. */
  agentHostIds?: readonly string[];
  /** @default 'flotilla' */
  subjectPrefix?: string;
}

/** Everything a secure control plane and its clients are started with. */
export interface SecureSetup {
  /** The CA every certificate chains to (PEM). */
  readonly ca: Buffer;
  /** Lines of nats-server config: `tls { … verify: true }` and the `authorization` block. */
  readonly natsServerConfig: string;
  /** The controller's config file (NATS users and TLS files, the operator). */
  readonly controllerYaml: string;
  /** The controller's TLS flags (gRPC and HTTPS). */
  readonly controllerArgs: readonly string[];
  /** How the simulator connects. */
  readonly simNats: SimNatsAuth;
  /** The environment of the `flotilla` CLI as the bench's operator (admin). */
  readonly cliEnv: Readonly<Record<string, string>>;
  /** The environment of a real agent (its NATS user, its certificate for NATS and gRPC). */
  agentEnv(hostId: string): Record<string, string>;
  /** gRPC credentials of the bench's operator. */
  grpcCredentials(): grpc.ChannelCredentials;
  /** The controller's HTTPS listener with this CA. */
  httpTarget(address: string): HttpTarget;
}

/** Makes the PKI (with the real `flotilla tls`), passwords and configs under `dir`. */
export async function makeSecureSetup(dir: string, opts: SecureOptions = {}): Promise<SecureSetup> {
  await mkdir(dir, { recursive: true });
  const agents = opts.agentHostIds ?? [];
  const steps = [
    ['tls', 'ca', 'create', '--out-dir', dir],
    ['tls', 'cert', 'create', '--server', '--ca-dir', dir, '--out-dir', dir],
    ['tls', 'cert', 'create', '--operator', OPERATOR, '--ca-dir', dir, '--out-dir', dir],
    ['tls', 'cert', 'create', '--host', SIM_NATS_USER, '--ca-dir', dir, '--out-dir', dir],
    ...agents.map((h) => ['tls', 'cert', 'create', '--host', h, '--ca-dir', dir, '--out-dir', dir]),
  ];
  for (const args of steps) {
    const r = await runCli(args, {});
    if (r.code !== 0) throw new Error(`flotilla ${args.join(' ')} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  }
  const file = (name: string) => join(dir, name);
  const ca = file('ca.pem');
  const password = () => randomBytes(18).toString('base64url');
  const controllerPassword = password();
  const hostsPassword = password();
  const simPassword = password();
  const agentPasswords = new Map(agents.map((h) => [h, password()]));
  const prefix = opts.subjectPrefix ?? 'flotilla';
  const s = makeSubjects(prefix);

  const users = [
    natsUserBlock(CONTROLLER_NATS_USER, controllerPassword, controllerPermissions(prefix)),
    natsUserBlock(CONTROLLER_HOSTS_NATS_USER, hostsPassword, hostFacingPermissions(prefix, [...(opts.simHostIds ?? []), ...agents])),
    natsUserBlock(SIM_NATS_USER, simPassword, {
      publish: { allow: [s.allAnnounce, s.allHeartbeat, s.allSync] },
      // Each simulated host asks in its own inbox (_INBOX_<host>.…): too many to list.
      subscribe: { allow: [s.assign('*'), '>'], deny: JETSTREAM_SUBJECTS },
    }),
    ...agents.map((h) => natsUserBlock(h, agentPasswords.get(h) as string, hostPermissions(prefix, h))),
  ];
  const natsServerConfig = [
    `tls { cert_file: "${file('controller.pem')}", key_file: "${file('controller-key.pem')}", ca_file: "${ca}", verify: true, timeout: 5 }`,
    'authorization {',
    '  users: [',
    ...users,
    '  ]',
    '}',
  ].join('\n');
  const controllerYaml = [
    'nats:',
    `  user: ${CONTROLLER_NATS_USER}`,
    `  password: ${JSON.stringify(controllerPassword)}`,
    '  hostFacing:',
    `    user: ${CONTROLLER_HOSTS_NATS_USER}`,
    `    password: ${JSON.stringify(hostsPassword)}`,
    '  tls:',
    `    caFile: ${JSON.stringify(ca)}`,
    `    certFile: ${JSON.stringify(file('controller.pem'))}`,
    `    keyFile: ${JSON.stringify(file('controller-key.pem'))}`,
    // As deploy/config/controller.yaml ships it: HTTPS with the controller's certificate.
    'http:',
    '  tls: true',
    'operators:',
    `  - name: ${OPERATOR}`,
    '    roles: [{ role: admin }]',
    '',
  ].join('\n');
  const caPem = readFileSync(ca);
  const operatorCert = file(`operator-${OPERATOR}.pem`);
  const operatorKey = file(`operator-${OPERATOR}-key.pem`);
  return {
    ca: caPem,
    natsServerConfig,
    controllerYaml,
    controllerArgs: ['--tls-cert', file('controller.pem'), '--tls-key', file('controller-key.pem'), '--tls-ca', ca],
    simNats: {
      user: SIM_NATS_USER,
      pass: simPassword,
      tls: { caFile: ca, certFile: file(`host-${SIM_NATS_USER}.pem`), keyFile: file(`host-${SIM_NATS_USER}-key.pem`) },
    },
    cliEnv: { FLOTILLA_TLS_CA: ca, FLOTILLA_TLS_CERT: operatorCert, FLOTILLA_TLS_KEY: operatorKey },
    agentEnv(hostId) {
      const pass = agentPasswords.get(hostId);
      if (pass === undefined) throw new Error(`no certificate or NATS user was made for host "${hostId}" (SecureOptions.agentHostIds)`);
      const cert = file(`host-${hostId}.pem`);
      const key = file(`host-${hostId}-key.pem`);
      return {
        FLOTILLA_NATS_USER: hostId,
        FLOTILLA_NATS_PASSWORD: pass,
        FLOTILLA_NATS_TLS_CA: ca,
        FLOTILLA_NATS_TLS_CERT: cert,
        FLOTILLA_NATS_TLS_KEY: key,
        FLOTILLA_TLS_CA: ca,
        FLOTILLA_TLS_CERT: cert,
        FLOTILLA_TLS_KEY: key,
      };
    },
    grpcCredentials: () => grpc.credentials.createSsl(caPem, readFileSync(operatorKey), readFileSync(operatorCert)),
    httpTarget: (address) => ({ address, ca: caPem }),
  };
}
