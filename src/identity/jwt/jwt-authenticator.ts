import type { Principal } from '../../core/principal.ts';
import type { AudienceBinding, AuthContext, Authenticator } from '../authenticator.ts';
import type { OidcIdpConfig, WorkloadIssuerConfig, WorkloadRuleConfig } from '../config-schema.ts';
import { oidcIdentity } from '../claims-identity.ts';
import { rolesFor, type RoleMap } from '../roles.ts';
import type { VerifiedIdentity } from '../tokens/sessions.ts';
import { workloadIdentity } from '../workload/rules.ts';
import { requireScopes } from './scopes.ts';
import { JWT_SHAPE, jwtRejected, peekIssuer, type JwtVerifier } from './verifier.ts';

export interface JwtAuthenticatorOptions {
  verifier: JwtVerifier;
  roles: RoleMap;
  /** IdPs whose access tokens are accepted directly (those with a `bearer` section). */
  bearerIdps: readonly OidcIdpConfig[];
  workloadIssuers: readonly WorkloadIssuerConfig[];
  workloadRules: readonly WorkloadRuleConfig[];
}

/**
 * IdP-issued JWTs presented directly as the bearer: a person's access token from a configured IdP, or a CI job's
 * OIDC token matched by a workload rule with `allow_direct`. The unverified `iss` only selects which issuer's keys
 * and rules apply; the signature, iss, aud, exp, nbf and iat are then verified before any claim is used, and last the
 * scopes an endpoint requires (`AuthContext.scopes`, scopes.ts).
 */
export class JwtAuthenticator implements Authenticator {
  readonly #o: JwtAuthenticatorOptions;

  constructor(o: JwtAuthenticatorOptions) {
    this.#o = o;
  }

  accepts(credential: string): boolean {
    return credential.length < 16_384 && JWT_SHAPE.test(credential);
  }

  async authenticate(credential: string, ctx: AuthContext): Promise<Principal> {
    const iss = peekIssuer(credential);
    if (iss === undefined) throw jwtRejected('malformed');
    const idp = this.#o.bearerIdps.find((i) => i.issuer === iss);
    if (idp?.bearer) {
      const claims = await this.#o.verifier.verify(credential, { issuer: idp.issuer, audience: boundAudience(ctx.audience, idp.bearer.audience), algorithms: idp.algorithms, jwksUri: idp.jwks_uri });
      const identity = oidcIdentity(idp, claims);
      requireScopes(claims, ctx.scopes, identity.subject);
      return this.#principal(identity, 'oidc_jwt', claims.jti ?? claims.sub);
    }
    const wl = this.#o.workloadIssuers.find((i) => i.issuer === iss);
    if (wl) {
      const claims = await verifyWorkload(this.#o.verifier, { ...wl, audience: boundAudience(ctx.audience, wl.audience) }, credential);
      const m = workloadIdentity({ rules: this.#o.workloadRules, issuerName: wl.name, claims, direct: true });
      if (!m) throw jwtRejected('no_matching_rule');
      requireScopes(claims, ctx.scopes, m.identity.subject);
      return this.#principal(m.identity, 'workload_jwt', claims.jti ?? claims.sub);
    }
    throw jwtRejected('unknown_issuer');
  }

  #principal(i: VerifiedIdentity, method: Principal['authMethod'], id: unknown): Principal {
    return Object.freeze({
      subject: i.subject,
      kind: i.kind,
      displayName: i.displayName,
      groups: Object.freeze([...i.groups]),
      roles: Object.freeze(rolesFor(i.groups, this.#o.roles)),
      authMethod: method,
      credentialId: `jwt:${i.source}:${typeof id === 'string' ? id.slice(0, 128) : 'unknown'}`,
      claims: Object.freeze({ ...i.claims }),
    });
  }
}

/** The audiences a token must name: the configured ones, or those of the endpoint that binds tokens to itself. */
function boundAudience(binding: AudienceBinding | undefined, configured: string | string[]): string[] {
  const own = typeof configured === 'string' ? [configured] : configured;
  if (!binding) return own;
  return binding.identity ? [...binding.accept, ...own] : [...binding.accept];
}

export function verifyWorkload(verifier: JwtVerifier, wl: WorkloadIssuerConfig, token: string) {
  return verifier.verify(token, { issuer: wl.issuer, audience: wl.audience, algorithms: wl.algorithms, jwksUri: wl.jwks_uri });
}
