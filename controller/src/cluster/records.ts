import { z } from 'zod';

/** The bucket of the controllers' shared cluster facts: the leader lease and who is running. */
export const CLUSTER_BUCKET = 'flotilla_cluster';

/** The key of the leader lease. It is never deleted, so its fencing number only grows. */
export const LEADER_KEY = 'leader';

/** `flotilla_cluster[leader]` */
export interface LeaderRecord {
  /** The leading controller's id; null once it stepped down. */
  holder: string | null;
  /** Grows by one with every new leadership; carried by every assignment that leader writes. */
  fence: number;
  /** When this leadership began (the leader's wall clock; for people, not for the lease). */
  sinceMs: number;
  /** The leader's last renewal (its wall clock). */
  renewedAtMs: number;
  /** Where to reach the leader. */
  grpc: string;
  http: string;
}

/** `flotilla_cluster[controllers.<id>]`, written by each controller every renewal round. */
export interface MemberRecord {
  id: string;
  grpc: string;
  http: string;
  startedAtMs: number;
  seenAtMs: number;
  role: 'leader' | 'follower';
}

export const memberKey = (id: string) => `controllers.${id}`;

export const leaderSchema: z.ZodType<LeaderRecord> = z
  .object({
    holder: z.string().nullable(),
    fence: z.number().int().nonnegative(),
    sinceMs: z.number(),
    renewedAtMs: z.number(),
    grpc: z.string(),
    http: z.string(),
  })
  .loose();

export const memberSchema: z.ZodType<MemberRecord> = z
  .object({
    id: z.string(),
    grpc: z.string(),
    http: z.string(),
    startedAtMs: z.number(),
    seenAtMs: z.number(),
    role: z.enum(['leader', 'follower']),
  })
  .loose();
