import { encodeHeartbeatTick, encodeMessage, tickableBootId, type Heartbeat, type HeartbeatTickOffer } from '@flotilla/shared';

/**
 * Chooses how each heartbeat travels: in full (JSON), or as a tick (heartbeat-tick.ts) that
 * names the last full one as its basis. A tick only when the controller offered ticks, the
 * heartbeat says nothing new apart from its counter, send time and load, and fewer than the
 * offer's `fullEvery` beats have gone since the last full one. Forgetting the basis (`reset`, on
 * every connect) makes the next heartbeat full, so a controller that may have missed anything
 * hears everything again.
 */
export class HeartbeatForms {
  private basis: { n: number; key: string; beats: number } | null = null;

  reset(): void {
    this.basis = null;
  }

  /** The body to publish for `hb`. */
  encode(hb: Heartbeat, offer: HeartbeatTickOffer | null): Uint8Array {
    const key = basisKey(hb);
    const basis = this.basis;
    if (offer !== null && basis !== null && basis.key === key && basis.beats + 1 < offer.fullEvery && hb.n > basis.n) {
      basis.beats++;
      return encodeHeartbeatTick({ bootId: hb.bootId, n: hb.n, basisN: basis.n, sentAtMs: hb.sentAtMs, load: hb.load });
    }
    this.basis = tickableBootId(hb.bootId) ? { n: hb.n, key, beats: 0 } : null;
    return encodeMessage(hb);
  }
}

/** Everything a tick leaves to its basis, as one string to compare. */
function basisKey(hb: Heartbeat): string {
  return JSON.stringify([hb.hostId, hb.bootId, hb.heartbeatIntervalMs, hb.acceptedSeq, hb.apps, hb.labels, hb.trust ?? null]);
}
