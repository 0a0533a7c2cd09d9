import type { NatsConnection } from '@nats-io/transport-node';
import { KvWatchInclude, Kvm, type KV } from '@nats-io/kv';
import { z } from 'zod';
import { UnavailableError, assertPrincipalName, errorMessage, type Logger } from '@flotilla/shared';

export const REVOCATIONS_BUCKET = 'flotilla_revocations';

/** A revoked host: every certificate naming it that was issued before `revokedAtMs` is refused. */
export interface HostRevocation {
  readonly hostId: string;
  readonly revokedAtMs: number;
  /** Who revoked it (`operator:<name>`). */
  readonly by: string;
}

const recordSchema = z.object({ hostId: z.string(), revokedAtMs: z.number(), by: z.string() });

/** The question the authenticator asks; a seam so the decision is testable without NATS. */
export interface RevocationList {
  /** The revocation that covers a certificate naming `hostId` valid from `notBeforeMs`, if any. */
  revoked(hostId: string, notBeforeMs: number): HostRevocation | undefined;
}

/**
 * Host revocations, kept in a KV bucket every controller watches, so a revocation written
 * through one controller is refused by all of them within a watch round-trip. Revoking by host
 * and issue time rather than by serial lets an operator revoke a host without holding its
 * certificate, and lets a replacement certificate issued afterwards work.
 */
export class HostRevocations implements RevocationList {
  private readonly byHost = new Map<string, HostRevocation>();
  private stopWatch: (() => void) | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly logger: Logger,
  ) {}

  static async open(nc: NatsConnection, opts: { replicas: number; logger: Logger }): Promise<HostRevocations> {
    let kv: KV;
    try {
      kv = await new Kvm(nc).create(REVOCATIONS_BUCKET, { history: 1, replicas: opts.replicas });
    } catch (err) {
      throw new UnavailableError(`cannot open KV bucket ${REVOCATIONS_BUCKET}: ${errorMessage(err)}`, { cause: err });
    }
    const list = new HostRevocations(kv, opts.logger.child({ component: 'revocations' }));
    await list.watch();
    return list;
  }

  /** Starts following updates first, then reads what is there, so nothing written between is missed. */
  private async watch(): Promise<void> {
    const iter = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    this.stopWatch = () => iter.stop();
    void (async () => {
      for await (const e of iter) this.apply(e.key, e.operation === 'PUT' ? e.string() : undefined);
    })().catch((err: unknown) => this.logger.warn({ err }, 'revocation watch ended'));
    const keys = await this.kv.keys();
    for await (const key of keys) {
      const e = await this.kv.get(key);
      if (e && !this.byHost.has(key)) this.apply(key, e.operation === 'PUT' ? e.string() : undefined);
    }
  }

  private apply(key: string, value: string | undefined): void {
    if (value === undefined) {
      this.byHost.delete(key);
      return;
    }
    const parsed = recordSchema.safeParse(safeJson(value));
    if (parsed.success) this.byHost.set(parsed.data.hostId, parsed.data);
    else this.logger.warn({ key }, 'ignoring a malformed revocation record');
  }

  revoked(hostId: string, notBeforeMs: number): HostRevocation | undefined {
    const r = this.byHost.get(hostId);
    return r && notBeforeMs <= r.revokedAtMs ? r : undefined;
  }

  async revoke(hostId: string, by: string, nowMs: number): Promise<HostRevocation> {
    const record: HostRevocation = { hostId: assertPrincipalName(hostId, 'host id'), revokedAtMs: nowMs, by };
    await this.kv.put(hostId, JSON.stringify(record));
    this.byHost.set(hostId, record);
    this.logger.warn({ hostId, by }, 'host revoked');
    return record;
  }

  stop(): void {
    this.stopWatch?.();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
