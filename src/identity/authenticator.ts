import type { Principal } from '../core/principal.ts';

/**
 * The identity seam: turns the credential a client presented into a verified Principal, or throws a
 * GatewayError with code `unauthenticated` (reason in `details.reason`, never the credential).
 * Implementations: Portcullis API keys (api-key-authenticator.ts), minted session tokens, IdP JWTs, CI workload
 * JWTs. `ChainAuthenticator` picks the first whose `accepts` matches the credential's shape.
 */
export interface AuthContext {
  sourceIp: string | undefined;
  userAgent: string | undefined;
  /**
   * Set by an endpoint that binds JWTs to itself (an MCP resource: MCP authorization §Token Audience Binding and
   * Validation, RFC 8707): an IdP or workload JWT is accepted only when its `aud` names one of these instead of the
   * audiences the identity config lists for the LLM endpoints. Credentials the gateway mints itself ignore it.
   */
  audience?: AudienceBinding | undefined;
  /**
   * Set by an endpoint that requires scopes (an MCP resource with `required_scopes`, docs/mcp.md#required-scopes): an
   * IdP or workload JWT must grant every one (`scope`/`scp`), else `forbidden` with reason `insufficient_scope`
   * (RFC 6750 §3.1). Credentials the gateway mints itself ignore it, as they ignore `audience`.
   */
  scopes?: readonly string[] | undefined;
}

export interface AudienceBinding {
  /** Accepted `aud` values (exact match, RFC 7519 §4.1.3), e.g. the endpoint's canonical resource URI. */
  accept: readonly string[];
  /** Also accept the audiences the identity config names for the issuer (`bearer.audience`, a workload issuer's `audience`). */
  identity: boolean;
}

export interface Authenticator {
  /** Cheap syntactic check (prefix, JWT shape) — no I/O. */
  accepts(credential: string): boolean;
  authenticate(credential: string, ctx: AuthContext): Promise<Principal>;
}
