import type { OidcIdpConfig } from './config-schema.ts';
import { claimAt, mapGroups } from './groups.ts';
import { jwtRejected } from './jwt/verifier.ts';
import type { VerifiedIdentity } from './tokens/sessions.ts';

/** Claims kept on the principal for policy conditions; everything else (and every token) is dropped. */
const KEPT_CLAIMS = ['iss', 'sub', 'aud', 'azp', 'email', 'email_verified', 'name', 'preferred_username', 'acr', 'amr', 'tid', 'hd'];

export function keptClaims(claims: Readonly<Record<string, unknown>>, extra: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of [...KEPT_CLAIMS, ...extra]) {
    const v = claimAt(claims, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * A person from verified OIDC claims (ID token, userinfo, or a bearer access token). The subject comes from a
 * configured claim; an `email` subject is refused when the IdP says it is unverified (account takeover by
 * registering someone else's address at a multi-tenant IdP).
 */
export function oidcIdentity(idp: OidcIdpConfig, claims: Readonly<Record<string, unknown>>): VerifiedIdentity {
  const raw = claimAt(claims, idp.subject_claim);
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 256) throw jwtRejected('missing_subject_claim');
  if (idp.subject_claim === 'email' && claims.email_verified === false) throw jwtRejected('email_not_verified');
  const display = claimAt(claims, idp.display_claim);
  return {
    subject: `user:${idp.subject_prefix}${raw}`,
    kind: 'user',
    displayName: typeof display === 'string' && display.length > 0 ? display : raw,
    groups: mapGroups(claimAt(claims, idp.groups.claim), idp.groups),
    claims: keptClaims(claims, [idp.groups.claim]),
    source: `oidc:${idp.name}`,
  };
}
