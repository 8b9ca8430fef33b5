import type { Clock } from '../core/clock.ts';

/**
 * Per-source token bucket for FAILED authentications. Only failures consume tokens, so a busy client with a good
 * credential is never slowed; a source that keeps presenting bad credentials is refused (429) until its bucket
 * refills. In-memory per replica: with N replicas behind a balancer an attacker gets at most N x burst before
 * refusal — acceptable for throttling guessing of 256-bit secrets; a shared limiter (PostgreSQL or the load
 * balancer) is the multi-replica upgrade path (SECURITY.md, identity section).
 */
export interface RateLimitOptions {
  burst: number;
  perSecond: number;
  clock: Clock;
  /** Cap on tracked sources; the stalest are evicted (bounded memory under a spoofed-source flood). */
  maxSources?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class FailureRateLimiter {
  readonly #o: Required<RateLimitOptions>;
  readonly #buckets = new Map<string, Bucket>();

  constructor(o: RateLimitOptions) {
    if (o.burst < 1 || o.perSecond <= 0) throw new TypeError('rate limit needs burst >= 1 and perSecond > 0');
    this.#o = { maxSources: 100_000, ...o };
  }

  #bucket(source: string): Bucket {
    const now = this.#o.clock.mono();
    let b = this.#buckets.get(source);
    if (!b) {
      b = { tokens: this.#o.burst, at: now };
      if (this.#buckets.size >= this.#o.maxSources) this.#buckets.delete(this.#buckets.keys().next().value!);
    } else {
      b.tokens = Math.min(this.#o.burst, b.tokens + ((now - b.at) / 1000) * this.#o.perSecond);
      b.at = now;
      this.#buckets.delete(source);
    }
    this.#buckets.set(source, b); // re-insert: Map order doubles as LRU order
    return b;
  }

  /** Seconds until this source may try again; 0 when it is not limited. */
  retryAfter(source: string | undefined): number {
    if (source === undefined) return 0;
    const b = this.#bucket(source);
    return b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) / this.#o.perSecond);
  }

  recordFailure(source: string | undefined): void {
    if (source === undefined) return;
    const b = this.#bucket(source);
    b.tokens = Math.max(0, b.tokens - 1);
  }
}
