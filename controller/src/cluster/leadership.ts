import { performance } from 'node:perf_hooks';
import { ConflictError, UnavailableError, type Logger } from '@flotilla/shared';
import type { JsonBucket } from '../store/kv.js';
import { actUntil, leaseRound, type LeaseMemory, type LeaseSettings } from './lease.js';
import { LEADER_KEY, memberKey, type LeaderRecord, type MemberRecord } from './records.js';

/** Where this controller is in the cluster. */
export type Role =
  | 'follower' // serving reads, downloads and hand-overs; another controller (or none yet) leads
  | 'leader' // holds the lease: runs rollouts, alarms' actions and writes assignments
  | 'deposed'; // stopping: released the lease and takes no part any more

/** What the rest of the controller asks of leadership: the fencing number to write with. */
export interface FenceSource {
  /** The fencing number while this controller may act as leader; throws UnavailableError otherwise. */
  fence(): number;
}

export interface LeadershipOptions {
  leaderBucket: JsonBucket<LeaderRecord>;
  memberBucket: JsonBucket<MemberRecord>;
  self: { id: string; grpc: string; http: string };
  settings: LeaseSettings;
  logger: Logger;
  /** Called once leadership is won (before the first renewal round). */
  onGained: (fence: number) => void;
  /**
   * Called when leadership is lost (not renewed in time, or another controller took it); the
   * controller stops its leader duties. It stays a follower and may win the lease again.
   */
  onLost: (reason: string) => void;
  /** @default performance.now */
  monotonic?: () => number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Runs the lease rounds (lease.ts decides, this does the KV reads and compare-and-set writes)
 * and says whether this controller may act as leader right now. The answer is checked against
 * its own monotonic clock on every call, so a stalled process does not write after its lease.
 */
export class Leadership implements FenceSource {
  private memory: LeaseMemory = { watching: null, actUntilMs: null };
  private currentRole: Role = 'follower';
  private heldFence = 0;
  private sinceMs = 0;
  private lastLeader: LeaderRecord | null = null;
  private timer: NodeJS.Timeout | undefined;
  private selfFence: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly startedAtMs: number;
  private readonly monotonic: () => number;
  private readonly now: () => number;

  constructor(private readonly opts: LeadershipOptions) {
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.now = opts.now ?? Date.now;
    this.startedAtMs = this.now();
  }

  get role(): Role {
    return this.currentRole;
  }

  get id(): string {
    return this.opts.self.id;
  }

  /** True while this controller holds a lease it has renewed in time. */
  isLeader(): boolean {
    return this.currentRole === 'leader' && this.memory.actUntilMs !== null && this.monotonic() < this.memory.actUntilMs;
  }

  fence(): number {
    if (!this.isLeader()) {
      throw new UnavailableError(`controller ${this.opts.self.id} is not the leader; only the leader writes assignments`, {
        details: { leader: this.lastLeader?.holder ?? null },
      });
    }
    return this.heldFence;
  }

  /** The lease as last read (or written) by this controller. */
  leader(): LeaderRecord | null {
    return this.lastLeader;
  }

  /** Every controller that has announced itself, as stored. */
  async members(): Promise<MemberRecord[]> {
    return (await this.opts.memberBucket.list('controllers.>')).map((e) => e.value);
  }

  /** Runs the first round (so a lone controller leads before it says it is running), then one per renewal interval. */
  async start(): Promise<void> {
    await this.round();
    this.schedule();
  }

  /**
   * Stops the rounds. A leader that stops on purpose releases the lease (same fencing number,
   * no holder) so a follower takes over at once instead of after a lease.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.selfFence);
    if (this.currentRole !== 'leader') return;
    this.currentRole = 'deposed';
    try {
      await this.opts.leaderBucket.updateWithRetry(LEADER_KEY, (current) => {
        if (!current || current.value.holder !== this.opts.self.id || current.value.fence !== this.heldFence) return undefined;
        return { ...current.value, holder: null, renewedAtMs: this.now() };
      });
      this.opts.logger.info({ fence: this.heldFence }, 'leadership released');
    } catch (err) {
      this.opts.logger.warn({ err }, 'cannot release leadership; a follower takes over when the lease ends');
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.round().finally(() => this.schedule());
    }, this.opts.settings.renewMs);
  }

  private async round(): Promise<void> {
    if (this.stopped || this.currentRole === 'deposed') return;
    const sentAtMs = this.monotonic();
    try {
      const entry = await this.opts.leaderBucket.get(LEADER_KEY);
      if (entry) this.lastLeader = entry.value;
      const view = entry ? { holder: entry.value.holder, fence: entry.value.fence, revision: entry.revision } : null;
      if (this.currentRole === 'leader' && view?.holder !== this.opts.self.id) {
        this.lose('another controller took the lease');
        return;
      }
      const action = leaseRound(view, this.memory, this.opts.self.id, this.monotonic(), this.opts.settings);
      const wall = this.now();
      const record = (fence: number, sinceMs: number): LeaderRecord => ({
        holder: this.opts.self.id,
        fence,
        sinceMs,
        renewedAtMs: wall,
        grpc: this.opts.self.grpc,
        http: this.opts.self.http,
      });
      switch (action.kind) {
        case 'wait':
          this.memory = action.memory;
          break;
        case 'create': {
          const value = record(1, wall);
          await this.opts.leaderBucket.create(LEADER_KEY, value);
          this.gain(value, sentAtMs);
          break;
        }
        case 'take': {
          const value = record(action.fence, wall);
          await this.opts.leaderBucket.update(LEADER_KEY, value, action.revision);
          this.gain(value, sentAtMs);
          break;
        }
        case 'renew': {
          const value = record(action.fence, this.sinceMs);
          await this.opts.leaderBucket.update(LEADER_KEY, value, action.revision);
          this.lastLeader = value;
          if (this.currentRole !== 'leader') {
            // The renewal landed after the lease ran out here and the duties were put down (a
            // stalled process, a slow quorum). Reviving the lease from it would leave a follower
            // renewing the lease for ever: nobody would lead, not even this controller. It is
            // taken again next round instead, under a new fencing number, and the duties with it.
            this.opts.logger.warn({ fence: action.fence }, 'lease renewal landed after leadership was lost; taking the lease again');
            break;
          }
          this.extend(sentAtMs);
          break;
        }
      }
    } catch (err) {
      if (err instanceof ConflictError) {
        // Another controller wrote the key between our read and our write: it won this round.
        if (this.currentRole === 'leader') this.lose('another controller took the lease');
        this.memory = { watching: null, actUntilMs: this.memory.actUntilMs };
      } else {
        this.opts.logger.warn({ err, role: this.currentRole }, 'lease round failed');
      }
    }
    await this.announce().catch((err: unknown) => this.opts.logger.debug({ err }, 'cannot announce this controller'));
  }

  private gain(value: LeaderRecord, sentAtMs: number): void {
    this.heldFence = value.fence;
    this.sinceMs = value.sinceMs;
    this.lastLeader = value;
    this.currentRole = 'leader';
    this.extend(sentAtMs);
    this.opts.logger.info({ fence: value.fence }, 'leadership gained');
    this.opts.onGained(value.fence);
  }

  /** A renewal that began at `sentAtMs` succeeded: act until the lease it began, minus the margin. */
  private extend(sentAtMs: number): void {
    const until = actUntil(sentAtMs, this.opts.settings);
    this.memory = { watching: null, actUntilMs: until };
    clearTimeout(this.selfFence);
    this.selfFence = setTimeout(() => {
      if (this.currentRole === 'leader' && this.memory.actUntilMs === until) this.lose('the lease was not renewed in time');
    }, Math.max(0, until - this.monotonic()));
  }

  private lose(reason: string): void {
    if (this.currentRole !== 'leader') return;
    this.currentRole = 'follower';
    this.memory = { watching: null, actUntilMs: null };
    clearTimeout(this.selfFence);
    this.opts.logger.error({ fence: this.heldFence, reason }, 'leadership lost');
    this.opts.onLost(reason);
  }

  private async announce(): Promise<void> {
    const { id, grpc, http } = this.opts.self;
    await this.opts.memberBucket.put(memberKey(id), {
      id,
      grpc,
      http,
      startedAtMs: this.startedAtMs,
      seenAtMs: this.now(),
      role: this.currentRole === 'leader' ? 'leader' : 'follower',
    });
  }
}
