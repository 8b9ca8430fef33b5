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
}

export interface Authenticator {
  /** Cheap syntactic check (prefix, JWT shape) — no I/O. */
  accepts(credential: string): boolean;
  authenticate(credential: string, ctx: AuthContext): Promise<Principal>;
}
