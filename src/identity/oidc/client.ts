import * as oidc from 'openid-client';
import { GatewayError } from '../../core/errors.ts';
import type { OidcIdpConfig } from '../config-schema.ts';
import { isLoopbackHost } from '../jwt/discovery.ts';

/** Resolved IdP config: `client_secret` already resolved from its secret reference. */
export interface OidcIdp extends OidcIdpConfig {
  clientSecret: string | undefined;
}

export interface IdpTokens {
  claims: Record<string, unknown>;
  refreshToken: string | undefined;
}

/**
 * One OpenID Connect relying party per configured IdP (openid-client v6). Discovery (OIDC Discovery 1.0) runs
 * lazily and is retried after a failure, so a gateway starts while an IdP is down.
 */
export class OidcClient {
  readonly idp: OidcIdp;
  readonly #skewSeconds: number;
  #config: Promise<oidc.Configuration> | undefined;

  constructor(idp: OidcIdp, skewSeconds: number) {
    this.idp = idp;
    this.#skewSeconds = skewSeconds;
  }

  config(): Promise<oidc.Configuration> {
    if (!this.#config) {
      const issuer = new URL(this.idp.issuer);
      const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname);
      const auth = this.idp.clientSecret ? oidc.ClientSecretPost(this.idp.clientSecret) : oidc.None();
      const metadata: Partial<oidc.ClientMetadata> = { id_token_signed_response_alg: this.idp.algorithms[0], [oidc.clockTolerance]: this.#skewSeconds };
      const p = oidc.discovery(issuer, this.idp.client_id, metadata, auth, {
        execute: insecure ? [oidc.allowInsecureRequests] : [],
        timeout: 10,
      });
      p.catch(() => (this.#config = undefined));
      this.#config = p;
    }
    return this.#config.catch((err: unknown) => {
      throw new GatewayError('upstream_unavailable', `Identity provider ${this.idp.name} is unavailable.`, { cause: err });
    });
  }

  /**
   * Verified claims: the ID token's (signature, iss, aud, exp, iat, nonce checked by openid-client), completed
   * from UserInfo when the ID token lacks the subject or groups claim (OIDC Core §5.3; UserInfo `sub` must match).
   */
  async claimsOf(config: oidc.Configuration, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): Promise<Record<string, unknown>> {
    const id = tokens.claims();
    if (!id) throw new GatewayError('unauthenticated', 'The identity provider returned no ID token.', { details: { reason: 'no_id_token' } });
    const claims: Record<string, unknown> = { ...id };
    const needed = [this.idp.subject_claim, this.idp.groups.claim.split('.')[0]!];
    if (needed.some((k) => claims[k] === undefined) && config.serverMetadata().userinfo_endpoint) {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, id.sub);
      for (const [k, v] of Object.entries(info)) if (claims[k] === undefined) claims[k] = v;
    }
    return claims;
  }

  /** Refresh at the IdP (OIDC Core §12): a disabled user or revoked grant makes this throw. */
  async refresh(refreshToken: string): Promise<IdpTokens> {
    const config = await this.config();
    const tokens = await oidc.refreshTokenGrant(config, refreshToken);
    const claims = tokens.id_token ? await this.claimsOf(config, tokens) : { ...(await oidc.fetchUserInfo(config, tokens.access_token, oidc.skipSubjectCheck)) };
    return { claims, refreshToken: tokens.refresh_token ?? refreshToken };
  }
}
