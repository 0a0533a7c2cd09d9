import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  applyKeyRotation,
  parseKeyRotation,
  parsePublicKey,
  policyRefusal,
  releaseKeysInForce,
  verifyAppPolicy,
  type AppPolicy,
  type Assignment,
  type ControllerTrust,
  type Logger,
  type Signed,
  type TrustedKey,
} from '@flotilla/shared';
import { writeFileAtomic } from './state.js';

export const TRUST_FILE = 'trust.json';

const signedSchema = z.object({ payload: z.string().min(1), keyId: z.string(), signature: z.string() }).strict();

/**
 * What the host has learnt about keys and versions beyond its configuration. Kept apart from
 * state.json so that losing one does not lose the other: a host whose state.json is gone still
 * trusts the rotated controller key and still refuses revoked keys and versions.
 */
const trustSchema = z.object({
  /** The statement that made the current controller key trusted; null: the configured keys (epoch 1). */
  rotation: signedSchema.nullable(),
  /** Release-key revocations seen, as signed. */
  revocations: z.array(signedSchema).max(256),
  /** The newest app policy seen per app, as signed. */
  policies: z.record(z.string(), signedSchema),
});
type TrustFile = z.infer<typeof trustSchema>;

const EMPTY: TrustFile = { rotation: null, revocations: [], policies: {} };

export interface TrustKeeperOptions {
  dataDir: string;
  /** The controller keys in the agent's configuration: epoch 1's. */
  controllerKeys: readonly TrustedKey[];
  /** The release keys in the agent's configuration. */
  releaseKeys: readonly TrustedKey[];
  logger: Logger;
}

/**
 * The host's trust state: which controller key (and epoch) it follows, which release keys are
 * in force, and each app's policy. Every change is on disk before it is believed.
 */
export class TrustKeeper {
  private file: TrustFile = EMPTY;
  private controller: ControllerTrust;
  private release: TrustedKey[];
  private readonly policies = new Map<string, AppPolicy>();
  private readonly path: string;
  private readonly log: Logger;

  constructor(private readonly opts: TrustKeeperOptions) {
    this.path = join(opts.dataDir, TRUST_FILE);
    this.log = opts.logger.child({ component: 'trust' });
    this.controller = { epoch: 1, keys: opts.controllerKeys };
    this.release = [...opts.releaseKeys];
  }

  /** Reads trust.json. One that cannot be read is logged and the configured keys are used. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ err }, 'cannot read trust.json; trusting the configured keys');
      return;
    }
    try {
      this.adopt(trustSchema.parse(JSON.parse(text)));
    } catch (err) {
      this.log.error({ err }, 'trust.json is unreadable; trusting the configured keys (the controller sends the rotation chain again)');
    }
  }

  /** The controller keys trusted now and their epoch. */
  get controllerTrust(): ControllerTrust {
    return this.controller;
  }

  /** The release keys in force: the configured ones less those revoked. */
  get releaseKeys(): readonly TrustedKey[] {
    return this.release;
  }

  /** Why the app policy forbids installing `version` of `app`, or null. */
  refusal(app: string, version: string): string | null {
    return policyRefusal(this.policies.get(app), version);
  }

  /**
   * Takes one key rotation statement: verified against the key trusted now, written to disk,
   * then followed. Returns false for one already taken (at or below the trusted epoch); throws
   * when it does not verify or cannot be saved.
   */
  async rotate(signed: Signed): Promise<boolean> {
    if (parseKeyRotation(signed.payload).epoch <= this.controller.epoch) return false;
    const next = applyKeyRotation(signed, this.controller);
    await this.save({ ...this.file, rotation: signed });
    this.controller = next;
    this.log.info({ epoch: next.epoch, keyId: next.keys[0]?.keyId }, 'controller key rotated');
    return true;
  }

  /**
   * Takes the revocations and app policies an assignment carries (each signed by a release key,
   * so the controller can withhold them but not forge them). Returns whether anything changed.
   */
  async absorb(assignment: Assignment): Promise<boolean> {
    const known = new Set(this.file.revocations.map((r) => r.signature));
    const revocations = [...this.file.revocations, ...(assignment.revocations ?? []).filter((r) => !known.has(r.signature))];
    const { keys } = releaseKeysInForce(this.opts.releaseKeys, revocations);
    const policies = { ...this.file.policies };
    for (const [app, a] of Object.entries(assignment.apps)) {
      if (a.policy === undefined) continue;
      try {
        const policy = verifyAppPolicy(a.policy, keys, app);
        const held = this.policies.get(app);
        if (held === undefined || policy.issuedAtMs > held.issuedAtMs) policies[app] = a.policy;
      } catch (err) {
        this.log.warn({ app, err }, 'app policy refused');
      }
    }
    const next: TrustFile = { ...this.file, revocations: revocations.slice(-256), policies };
    if (JSON.stringify(next) === JSON.stringify(this.file)) return false;
    await this.save(next);
    return true;
  }

  private async save(next: TrustFile): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`);
    this.adopt(next);
  }

  /** Makes `file` the trust in memory (it is on disk already). */
  private adopt(file: TrustFile): void {
    let controller: ControllerTrust = { epoch: 1, keys: this.opts.controllerKeys };
    if (file.rotation !== null) {
      // The statement was verified before it was saved; its key is trusted as it stands.
      const statement = parseKeyRotation(file.rotation.payload);
      controller = { epoch: statement.epoch, keys: [parsePublicKey(statement.publicKey, `controller key of epoch ${statement.epoch}`)] };
    }
    const { keys, revoked } = releaseKeysInForce(this.opts.releaseKeys, file.revocations);
    this.policies.clear();
    for (const [app, signed] of Object.entries(file.policies)) {
      try {
        this.policies.set(app, verifyAppPolicy(signed, keys, app));
      } catch (err) {
        this.log.warn({ app, err }, 'kept app policy no longer verifies; dropped');
      }
    }
    if (revoked.length > 0) this.log.info({ revoked }, 'release keys revoked');
    this.file = file;
    this.controller = controller;
    this.release = keys;
  }
}
