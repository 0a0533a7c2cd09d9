// The nats-server authorization a fleet needs: two controller users and one user per host, each
// allowed exactly its part of the conversation (subjects.ts). Pure: passwords come in, text goes
// out; the CLI verb (cli/commands/nats-config.ts) makes the passwords and writes the files.
import { HOST_ID, hostInboxPrefix, subjects as makeSubjects } from '@flotilla/shared';

/** The NATS user names the generated config and credential files use. */
export const CONTROLLER_NATS_USER = 'controller';
export const CONTROLLER_HOSTS_NATS_USER = 'controller-hosts';

export interface NatsAuthInput {
  /** First token of every subject. */
  readonly subjectPrefix: string;
  /** Password of the main controller user (KV, JetStream). */
  readonly controllerPassword: string;
  /** Password of the host-facing controller user. */
  readonly hostsPassword: string;
  /** Host id → its password. */
  readonly hosts: ReadonlyMap<string, string>;
}

/** One user's permissions, as nats-server reads them. */
export interface NatsPermissions {
  readonly publish: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
}

// Never reachable from a connection that hosts can make talk: JetStream's API, KV and object
// store subjects, and the server's own.
const JETSTREAM_SUBJECTS = ['$JS.>', '$KV.>', '$O.>', '$SYS.>'];

/** A host speaks for itself only and hears only its assignment and its own replies. */
export function hostPermissions(subjectPrefix: string, hostId: string): NatsPermissions {
  const s = makeSubjects(subjectPrefix);
  return {
    publish: { allow: [s.announce(hostId), s.heartbeat(hostId), s.sync(hostId)] },
    subscribe: { allow: [s.assign(hostId), `${hostInboxPrefix(hostId)}.>`] },
  };
}

/**
 * The host-facing controller user hears every host and answers each in its own inbox; it
 * cannot publish to JetStream, so a host-chosen reply subject cannot become an API call.
 */
export function hostFacingPermissions(subjectPrefix: string, hostIds: readonly string[]): NatsPermissions {
  const s = makeSubjects(subjectPrefix);
  return {
    publish: { allow: [s.assign('*'), ...hostIds.map((h) => `${hostInboxPrefix(h)}.>`)], deny: JETSTREAM_SUBJECTS },
    subscribe: { allow: [s.allAnnounce, s.allHeartbeat, s.allSync], deny: JETSTREAM_SUBJECTS },
  };
}

/** The main controller user keeps the state (KV over JetStream) and answers no host. */
export function controllerPermissions(subjectPrefix: string): NatsPermissions {
  return {
    // $O.>: release bytes in the object store; $JS.ACK.>: the leader acknowledges handed-over commands.
    publish: { allow: ['$JS.API.>', '$KV.>', '$O.>', '$JS.ACK.>', `${subjectPrefix}.>`] },
    subscribe: { allow: ['_INBOX.>', '$KV.>', '$O.>', `${subjectPrefix}.>`] },
  };
}

/** Host ids from `--hosts a,b` and a hosts file (one a line, `#` comments); duplicates and bad ids refused. */
export function parseHostList(inline: readonly string[], fileText: string | undefined): string[] {
  const fromFile = (fileText ?? '')
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '');
  const all = [...inline.flatMap((v) => v.split(',')).map((h) => h.trim()).filter((h) => h !== ''), ...fromFile];
  const seen = new Set<string>();
  for (const h of all) {
    if (h === CONTROLLER_NATS_USER || h === CONTROLLER_HOSTS_NATS_USER) {
      throw new Error(`host id "${h}" is the name of a controller NATS user; rename the host`);
    }
    if (!HOST_ID.test(h)) throw new Error(`"${h}" is not a valid host id (1-128 letters, digits, '-' or '_')`);
    if (seen.has(h)) throw new Error(`host "${h}" is listed twice`);
    seen.add(h);
  }
  return all;
}

const quote = (v: string) => JSON.stringify(v);
const list = (vs: readonly string[]) => `[${vs.map(quote).join(', ')}]`;

/** One user of an `authorization { users: [...] }` block, as nats-server reads it. */
export function natsUserBlock(user: string, password: string, p: NatsPermissions): string {
  const side = (name: string, rule: NatsPermissions['publish']) =>
    `        ${name}: { allow: ${list(rule.allow)}${rule.deny ? `, deny: ${list(rule.deny)}` : ''} }`;
  return [
    '    {',
    `      user: ${quote(user)}`,
    `      password: ${quote(password)}`,
    '      permissions: {',
    side('publish', p.publish),
    side('subscribe', p.subscribe),
    '      }',
    '    }',
  ].join('\n');
}

/** The `authorization { … }` block for nats-server's config (include it, or paste it in). */
export function natsAuthorizationBlock(input: NatsAuthInput): string {
  const hostIds = [...input.hosts.keys()];
  const users = [
    natsUserBlock(CONTROLLER_NATS_USER, input.controllerPassword, controllerPermissions(input.subjectPrefix)),
    natsUserBlock(CONTROLLER_HOSTS_NATS_USER, input.hostsPassword, hostFacingPermissions(input.subjectPrefix, hostIds)),
    ...hostIds.map((h) => natsUserBlock(h, input.hosts.get(h) as string, hostPermissions(input.subjectPrefix, h))),
  ];
  return [
    '# Generated by `flotilla nats config`. Holds passwords: keep it readable by nats-server only.',
    '# Regenerate (or add the new host by hand) when the fleet gains a host: the host-facing',
    "# controller user may answer only the inboxes listed here.",
    'authorization {',
    '  users: [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
