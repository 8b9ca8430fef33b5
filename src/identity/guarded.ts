import { hash } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { GatewayError, isGatewayError } from '../core/errors.ts';
import type { Principal } from '../core/principal.ts';
import type { AuthContext, Authenticator } from './authenticator.ts';
import type { EmitIdentityEvent } from './events.ts';
import type { FailureRateLimiter } from './rate-limit.ts';

export interface GuardOptions {
  limiter: FailureRateLimiter;
  emit: EmitIdentityEvent;
  clock: Clock;
  /** Event `source` label (`session`, `jwt`, `api_key`). */
  label: string;
}

const RECENT_GOOD_MS = 60_000;

/**
 * Wraps an authenticator with the bad-credential flood guard and rejection events. A source over its failure
 * budget is refused before any verification work — except for a credential that verified recently, so a
 * legitimate client behind the same NAT as an attacker keeps working. Works for any Authenticator (the lead can
 * wrap the API-key authenticator the same way).
 */
export function guarded(inner: Authenticator, o: GuardOptions): Authenticator {
  const recentGood = new Map<string, number>();
  const fingerprint = (c: string): string => hash('sha256', c, 'base64url');
  return {
    accepts: (c) => inner.accepts(c),
    async authenticate(credential: string, ctx: AuthContext): Promise<Principal> {
      const now = o.clock.now();
      const fp = fingerprint(credential);
      const known = (recentGood.get(fp) ?? 0) > now;
      const wait = known ? 0 : o.limiter.retryAfter(ctx.sourceIp);
      if (wait > 0) {
        o.emit({ type: 'auth.rate_limited', at: now, sourceIp: ctx.sourceIp, source: o.label });
        throw new GatewayError('rate_limited', 'Too many failed authentication attempts; retry later.', { headers: { 'retry-after': String(wait) } });
      }
      try {
        const p = await inner.authenticate(credential, ctx);
        if (recentGood.size > 10_000) recentGood.clear();
        recentGood.set(fp, now + RECENT_GOOD_MS);
        return p;
      } catch (err) {
        if (isGatewayError(err) && err.code === 'unauthenticated') {
          recentGood.delete(fp);
          o.limiter.recordFailure(ctx.sourceIp);
          const reason = typeof err.details?.reason === 'string' ? err.details.reason : 'invalid';
          o.emit({ type: 'auth.token.rejected', at: now, reason, sourceIp: ctx.sourceIp, source: o.label });
        } else if (isGatewayError(err) && err.details?.reason === 'insufficient_scope') {
          // A valid token without a scope the endpoint requires (RFC 6750 §3.1): rejected and reported with who held
          // it, but not a failed guess — it does not spend the source's failure budget.
          const subject = typeof err.details.subject === 'string' ? err.details.subject : undefined;
          o.emit({ type: 'auth.token.rejected', at: now, reason: 'insufficient_scope', ...(subject ? { subject } : {}), sourceIp: ctx.sourceIp, source: o.label });
        }
        throw err;
      }
    },
  };
}
