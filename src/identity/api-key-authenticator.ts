import { GatewayError } from '../core/errors.ts';
import type { Clock } from '../core/clock.ts';
import type { Principal } from '../core/principal.ts';
import { KEY_PREFIX, parseApiKey, secretMatches } from '../crypto/api-keys.ts';
import type { ApiKeyRecord, ApiKeyRepo } from '../store/ports.ts';
import type { AuthContext, Authenticator } from './authenticator.ts';
import { rolesFor, type RoleMap } from './roles.ts';

export interface ApiKeyAuthenticatorOptions {
  repo: ApiKeyRepo;
  clock: Clock;
  roles: RoleMap;
  /** How long a looked-up key row is reused. Revocation through this process invalidates at once. */
  cacheTtlMs: number;
}

interface CacheEntry {
  rec: ApiKeyRecord;
  principal: Principal;
  until: number;
}

/** Portcullis API keys (`pcl_…`): hashed at rest, checked in constant time, revocable and expiring. */
export class ApiKeyAuthenticator implements Authenticator {
  readonly #opts: ApiKeyAuthenticatorOptions;
  readonly #cache = new Map<string, CacheEntry>();

  constructor(opts: ApiKeyAuthenticatorOptions) {
    this.#opts = opts;
  }

  accepts(credential: string): boolean {
    return credential.startsWith(KEY_PREFIX);
  }

  async authenticate(credential: string, _ctx: AuthContext): Promise<Principal> {
    const parsed = parseApiKey(credential);
    if (!parsed) throw unauthenticated('malformed_key');
    const now = this.#opts.clock.now();
    let entry = this.#cache.get(parsed.id);
    if (!entry || entry.until < now) {
      const rec = await this.#opts.repo.get(parsed.id);
      if (!rec) throw unauthenticated('unknown_key');
      entry = { rec, principal: toPrincipal(rec, this.#opts.roles), until: now + this.#opts.cacheTtlMs };
      if (this.#opts.cacheTtlMs > 0) this.#cache.set(parsed.id, entry);
    }
    const { rec } = entry;
    if (!secretMatches(parsed.secretPart, rec.hash)) throw unauthenticated('bad_secret');
    if (rec.revokedAt !== null && rec.revokedAt <= now) throw unauthenticated('revoked');
    if (rec.expiresAt !== null && rec.expiresAt <= now) throw unauthenticated('expired');
    return entry.principal;
  }

  /** Drop a cached key so a revocation applies to the very next request. */
  invalidate(keyId: string): void {
    this.#cache.delete(keyId);
  }
}

function toPrincipal(rec: ApiKeyRecord, roles: RoleMap): Principal {
  return Object.freeze({
    subject: rec.subject,
    kind: rec.kind,
    displayName: rec.displayName,
    groups: Object.freeze([...rec.groups]),
    roles: Object.freeze(rolesFor(rec.groups, roles)),
    authMethod: 'api_key',
    credentialId: `key:${rec.id}`,
  });
}

function unauthenticated(reason: string): GatewayError {
  return new GatewayError('unauthenticated', 'Invalid or missing Portcullis API key.', { details: { reason } });
}
