import type { Clock } from '../../core/clock.ts';
import { GatewayError } from '../../core/errors.ts';
import type { PrincipalKind } from '../../core/principal.ts';
import type { Keyring } from '../../crypto/keyring.ts';
import type { EmitIdentityEvent } from '../events.ts';
import type { IdentityRepo, SessionRecord } from '../repo.ts';
import { formatToken, hashSecret, mintSecret, newSessionId, parseToken, secretMatches } from './format.ts';

/** What a successful login or exchange established, before tokens exist. */
export interface VerifiedIdentity {
  subject: string;
  kind: PrincipalKind;
  displayName: string;
  groups: string[];
  claims: Record<string, unknown>;
  /** `oidc:<idp>`, `saml:<idp>`, `workload:<rule>`. */
  source: string;
}

export interface IssueRequest {
  identity: VerifiedIdentity;
  authMethod: SessionRecord['authMethod'];
  /** The IdP refresh token; a session without one cannot be refreshed (re-login instead). */
  idpRefreshToken?: string | undefined;
  /** Absolute session lifetime (ms); capped by the configured maximum. */
  sessionTtlMs?: number;
  /** Access token lifetime (ms) when shorter than the configured one (e.g. a workload JWT that expires sooner). */
  accessTtlMs?: number;
}

/** OAuth 2.0 token response (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  issued_token_type?: string;
  subject: string;
  groups: string[];
}

/** Asks the IdP whether the user is still accepted; returns fresh claims/groups, or throws `GatewayError`. */
export type IdpRefresher = (source: string, idpRefreshToken: string) => Promise<{ identity: VerifiedIdentity; idpRefreshToken: string | undefined }>;

export interface SessionServiceOptions {
  repo: IdentityRepo;
  keyring: Keyring;
  clock: Clock;
  emit: EmitIdentityEvent;
  accessTtlMs: number;
  sessionTtlMs: number;
  /** Called after a session changes so cached lookups drop it at once. */
  onChange(sessionId: string): void;
}

const aad = (id: string): string => `identity/session/${id}/idp-refresh`;

/** Mints, refreshes (with rotation and reuse detection) and revokes Portcullis session tokens. */
export class SessionService {
  readonly #o: SessionServiceOptions;

  constructor(o: SessionServiceOptions) {
    this.#o = o;
  }

  async issue(r: IssueRequest): Promise<TokenResponse> {
    const now = this.#o.clock.now();
    const id = newSessionId();
    const access = mintSecret();
    const refresh = r.authMethod === 'session_token' && r.idpRefreshToken ? mintSecret() : undefined;
    const expiresAt = now + Math.min(r.sessionTtlMs ?? this.#o.sessionTtlMs, this.#o.sessionTtlMs);
    const accessExpiresAt = Math.min(now + Math.min(r.accessTtlMs ?? this.#o.accessTtlMs, this.#o.accessTtlMs), expiresAt);
    const i = r.identity;
    await this.#o.repo.createSession({
      id, subject: i.subject, kind: i.kind, displayName: i.displayName, groups: i.groups, claims: i.claims, source: i.source,
      authMethod: r.authMethod, accessHash: hashSecret(access), accessExpiresAt, prevAccessHash: null, prevAccessExpiresAt: null,
      refreshHash: refresh ? hashSecret(refresh) : null,
      idpRefresh: refresh && r.idpRefreshToken ? this.#o.keyring.seal('identity', Buffer.from(r.idpRefreshToken), aad(id)) : null,
      createdAt: now, refreshedAt: null, expiresAt, revokedAt: null, revokedReason: null,
    });
    this.#o.emit({ type: 'auth.token.minted', at: now, subject: i.subject, source: i.source, credentialId: `session:${id}`, groups: i.groups });
    return tokenResponse({ id, access, refresh, accessExpiresAt, now, identity: i });
  }

  /**
   * Refresh-token grant (RFC 6749 §6) with rotation: the old refresh token dies, and presenting it again revokes
   * the whole session (reuse detection, OAuth 2.0 Security BCP RFC 9700 §4.14.2). The IdP is asked first, so a
   * user disabled at the IdP cannot refresh, and group changes at the IdP land here.
   */
  async refresh(presented: string, refresher: IdpRefresher): Promise<TokenResponse> {
    const now = this.#o.clock.now();
    const p = parseToken(presented);
    if (!p || p.type !== 'refresh') throw invalidGrant('malformed');
    const s = await this.#o.repo.getSession(p.sessionId);
    if (!s) throw invalidGrant('unknown_session');
    if (s.revokedAt !== null) throw invalidGrant('revoked', s.subject);
    if (s.expiresAt <= now) throw invalidGrant('session_expired', s.subject);
    if (!secretMatches(p.secret, s.refreshHash)) {
      if (s.refreshHash !== null) await this.revokeSession(s.id, 'refresh_token_reuse', s.subject);
      throw invalidGrant('refresh_token_reuse', s.subject);
    }
    if (!s.idpRefresh) throw invalidGrant('not_refreshable', s.subject);
    const idpToken = this.#o.keyring.open('identity', s.idpRefresh, aad(s.id)).toString('utf8');
    let fresh: Awaited<ReturnType<IdpRefresher>>;
    try {
      fresh = await refresher(s.source, idpToken);
    } catch (err) {
      // The IdP answered "no" (user disabled, grant revoked): the session ends. The IdP being unreachable is not
      // a refusal: the caller may retry and the session survives.
      if (err instanceof GatewayError && err.status < 500) {
        await this.revokeSession(s.id, 'idp_refused', s.subject);
        throw invalidGrant('idp_refused', s.subject);
      }
      throw new GatewayError('upstream_unavailable', 'The identity provider could not be reached; retry later.', { cause: err, details: { oauth_error: 'temporarily_unavailable' } });
    }
    if (fresh.identity.subject !== s.subject) {
      await this.revokeSession(s.id, 'subject_changed', s.subject);
      throw invalidGrant('subject_changed', s.subject);
    }
    return this.#rotate(s, fresh, p.secret);
  }

  async #rotate(s: SessionRecord, fresh: Awaited<ReturnType<IdpRefresher>>, oldSecret: string): Promise<TokenResponse> {
    const now = this.#o.clock.now();
    const access = mintSecret();
    const refresh = mintSecret();
    const accessExpiresAt = Math.min(now + this.#o.accessTtlMs, s.expiresAt);
    const ok = await this.#o.repo.rotateSession({
      id: s.id, expectedRefreshHash: hashSecret(oldSecret), accessHash: hashSecret(access), accessExpiresAt,
      prevAccessHash: s.accessHash, prevAccessExpiresAt: s.accessExpiresAt, refreshHash: hashSecret(refresh),
      idpRefresh: this.#o.keyring.seal('identity', Buffer.from(fresh.idpRefreshToken ?? ''), aad(s.id)),
      groups: fresh.identity.groups, claims: fresh.identity.claims, refreshedAt: now,
    });
    if (!ok) throw invalidGrant('concurrent_refresh', s.subject);
    this.#o.onChange(s.id);
    this.#o.emit({ type: 'auth.token.refreshed', at: now, subject: s.subject, source: s.source, credentialId: `session:${s.id}`, groups: fresh.identity.groups, method: 'refresh' });
    return tokenResponse({ id: s.id, access, refresh, accessExpiresAt, now, identity: { ...fresh.identity, subject: s.subject } });
  }

  /** RFC 7009: revoking either token of a session ends the session. Unknown tokens are not an error. */
  async revokeToken(presented: string): Promise<boolean> {
    const p = parseToken(presented);
    if (!p) return false;
    const s = await this.#o.repo.getSession(p.sessionId);
    if (!s) return false;
    const hash = p.type === 'access' ? [s.accessHash, s.prevAccessHash] : [s.refreshHash];
    if (!hash.some((h) => secretMatches(p.secret, h))) return false;
    return this.revokeSession(s.id, 'revoked_by_holder', s.subject);
  }

  async revokeSession(id: string, reason: string, subject?: string): Promise<boolean> {
    const now = this.#o.clock.now();
    const ok = await this.#o.repo.revokeSession(id, now, reason);
    this.#o.onChange(id);
    if (ok) this.#o.emit({ type: 'auth.token.revoked', at: now, subject, reason, credentialId: `session:${id}` });
    return ok;
  }
}

function tokenResponse(x: { id: string; access: string; refresh: string | undefined; accessExpiresAt: number; now: number; identity: VerifiedIdentity }): TokenResponse {
  const out: TokenResponse = {
    access_token: formatToken('access', x.id, x.access),
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((x.accessExpiresAt - x.now) / 1000)),
    subject: x.identity.subject,
    groups: x.identity.groups,
  };
  if (x.refresh) out.refresh_token = formatToken('refresh', x.id, x.refresh);
  return out;
}

/** RFC 6749 §5.2 `invalid_grant`, carried as a GatewayError so routes serialize it as an OAuth error. */
export function invalidGrant(reason: string, subject?: string): GatewayError {
  return new GatewayError('unauthenticated', 'The grant is invalid, expired or revoked.', { status: 400, details: { oauth_error: 'invalid_grant', reason, ...(subject ? { subject } : {}) } });
}
