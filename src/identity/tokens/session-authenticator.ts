import type { Clock } from '../../core/clock.ts';
import { GatewayError } from '../../core/errors.ts';
import type { Principal } from '../../core/principal.ts';
import type { AuthContext, Authenticator } from '../authenticator.ts';
import type { IdentityRepo, SessionRecord } from '../repo.ts';
import { rolesFor, type RoleMap } from '../roles.ts';
import { ACCESS_PREFIX, parseToken, secretMatches } from './format.ts';

export interface SessionAuthenticatorOptions {
  repo: IdentityRepo;
  clock: Clock;
  roles: RoleMap;
  /**
   * How long a session row is reused without re-reading the store. Revocation through this process invalidates
   * at once (invalidate()); other replicas see it within this bound.
   */
  cacheTtlMs: number;
}

interface Entry {
  rec: SessionRecord;
  principal: Principal;
  until: number;
}

/** Minted access tokens (`pct_…`), checked against the store-backed session on every request. */
export class SessionAuthenticator implements Authenticator {
  readonly #o: SessionAuthenticatorOptions;
  readonly #cache = new Map<string, Entry>();

  constructor(o: SessionAuthenticatorOptions) {
    this.#o = o;
  }

  accepts(credential: string): boolean {
    return credential.startsWith(ACCESS_PREFIX);
  }

  async authenticate(credential: string, _ctx: AuthContext): Promise<Principal> {
    const p = parseToken(credential);
    if (!p || p.type !== 'access') throw rejected('malformed_token');
    const now = this.#o.clock.now();
    const e = await this.#entry(p.sessionId, now);
    const { rec } = e;
    const current = secretMatches(p.secret, rec.accessHash);
    const previous = !current && secretMatches(p.secret, rec.prevAccessHash);
    if (!current && !previous) throw rejected('bad_secret');
    if (rec.revokedAt !== null) throw rejected('revoked');
    const exp = current ? rec.accessExpiresAt : (rec.prevAccessExpiresAt ?? 0);
    if (exp <= now || rec.expiresAt <= now) throw rejected('expired');
    return e.principal;
  }

  async #entry(id: string, now: number): Promise<Entry> {
    const hit = this.#cache.get(id);
    if (hit && hit.until > now) return hit;
    const rec = await this.#o.repo.getSession(id);
    if (!rec) throw rejected('unknown_token');
    const e = { rec, principal: toPrincipal(rec, this.#o.roles), until: now + this.#o.cacheTtlMs };
    if (this.#o.cacheTtlMs > 0) {
      if (this.#cache.size > 50_000) this.#cache.clear();
      this.#cache.set(id, e);
    }
    return e;
  }

  /** Drop a cached session so a revocation or refresh applies to the very next request. */
  invalidate(sessionId: string): void {
    this.#cache.delete(sessionId);
  }
}

export function toPrincipal(rec: Pick<SessionRecord, 'subject' | 'kind' | 'displayName' | 'groups' | 'claims' | 'authMethod' | 'id'>, roles: RoleMap): Principal {
  return Object.freeze({
    subject: rec.subject,
    kind: rec.kind,
    displayName: rec.displayName,
    groups: Object.freeze([...rec.groups]),
    roles: Object.freeze(rolesFor(rec.groups, roles)),
    authMethod: rec.authMethod,
    credentialId: `session:${rec.id}`,
    claims: Object.freeze({ ...rec.claims }),
  });
}

function rejected(reason: string): GatewayError {
  return new GatewayError('unauthenticated', 'Invalid, expired or revoked Portcullis token.', { details: { reason } });
}
