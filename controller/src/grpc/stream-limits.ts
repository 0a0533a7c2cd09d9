import { ResourceExhaustedError } from '@flotilla/shared';
import type { StreamLimitSettings } from '../limits-config.js';

export type { StreamLimitSettings };

export type StreamKind = 'upload' | 'download';

/** Why a stream was refused, for the metric. */
export type StreamRefusal = 'streams' | 'peer-streams' | 'uploads';

/**
 * Counts the artifact streams in flight, overall, per peer address and uploads, and refuses one
 * more past a limit. grpc-js's `grpc.max_concurrent_streams` is per connection only: a caller
 * opening many connections would pass it, so the counts live here, where every stream starts.
 * Costs O(1) a stream and one map entry per peer with a stream open.
 */
export class StreamLimits {
  private total = 0;
  private uploads = 0;
  private readonly perPeer = new Map<string, number>();

  constructor(
    readonly settings: StreamLimitSettings,
    private readonly onRefused: (reason: StreamRefusal) => void = () => undefined,
  ) {}

  /** Takes a place for one stream; the function returned gives it back (once). Throws ResourceExhaustedError. */
  acquire(peer: string, kind: StreamKind): () => void {
    const { maxStreams, maxStreamsPerPeer, maxUploads } = this.settings;
    const mine = this.perPeer.get(peer) ?? 0;
    if (this.total >= maxStreams) this.refuse('streams', `the controller already serves ${this.total} artifact streams (limits.maxStreams ${maxStreams})`);
    if (mine >= maxStreamsPerPeer) {
      this.refuse('peer-streams', `${peer} already has ${mine} artifact streams open (limits.maxStreamsPerPeer ${maxStreamsPerPeer})`);
    }
    if (kind === 'upload' && this.uploads >= maxUploads) {
      this.refuse('uploads', `the controller already takes ${this.uploads} uploads (limits.maxUploads ${maxUploads})`);
    }
    this.total += 1;
    this.perPeer.set(peer, mine + 1);
    if (kind === 'upload') this.uploads += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      if (kind === 'upload') this.uploads -= 1;
      const left = (this.perPeer.get(peer) ?? 1) - 1;
      if (left > 0) this.perPeer.set(peer, left);
      else this.perPeer.delete(peer);
    };
  }

  /** Streams open now: overall, uploads, and peers with any open. */
  counts(): { streams: number; uploads: number; peers: number } {
    return { streams: this.total, uploads: this.uploads, peers: this.perPeer.size };
  }

  private refuse(reason: StreamRefusal, why: string): never {
    this.onRefused(reason);
    throw new ResourceExhaustedError(`${why}; try again once some finish`);
  }
}

/** A call's peer without its port ("ipv4:127.0.0.1:51234" -> "127.0.0.1"): one budget per address. */
export function peerAddress(peer: string): string {
  const bare = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(bare);
  if (v6) return v6[1] as string;
  const v4 = /^([^:]+):\d+$/.exec(bare);
  return v4 ? (v4[1] as string) : bare;
}
