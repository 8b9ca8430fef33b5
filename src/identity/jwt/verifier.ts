import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Clock } from '../../core/clock.ts';
import { GatewayError } from '../../core/errors.ts';
import { assertSafeIdpUrl, discoverMetadata } from './discovery.ts';

/** One trusted JWT issuer: a bearer IdP, a workload (CI) issuer, or an OIDC login IdP. */
export interface IssuerSpec {
  issuer: string;
  audience: string | string[];
  /** Asymmetric algorithms only; the config schema has no `none`/`HS*` (RFC 8725 §3.1). */
  algorithms: string[];
  jwksUri?: string | undefined;
}

export interface JwtVerifierOptions {
  clock: Clock;
  skewSeconds: number;
  /** JWKS fetch timeout; a slow IdP must not hang requests. */
  timeoutMs?: number;
  /** Minimum time between JWKS refetches triggered by unknown `kid`s (flood of forged kids cannot hammer the IdP). */
  cooldownMs?: number;
  /** How long a fetched JWKS is trusted before refetch. */
  cacheMaxAgeMs?: number;
}

const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

/**
 * JWT verification against remote key sets (jose createRemoteJWKSet: timeout, cooldown, cache — STYLE.md #10).
 * A token naming an unknown `kid` triggers one refetch (key rotation) subject to the cooldown.
 */
export class JwtVerifier {
  readonly #o: Required<JwtVerifierOptions>;
  readonly #sets = new Map<string, Promise<ReturnType<typeof createRemoteJWKSet>>>();

  constructor(o: JwtVerifierOptions) {
    this.#o = { timeoutMs: 5_000, cooldownMs: 30_000, cacheMaxAgeMs: 600_000, ...o };
  }

  async verify(token: string, spec: IssuerSpec): Promise<JWTPayload> {
    const algorithms = spec.algorithms.filter((a) => ASYMMETRIC.test(a));
    if (algorithms.length === 0) throw new TypeError(`issuer ${spec.issuer}: no asymmetric algorithm allowed`);
    const keys = await this.#keySet(spec);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: spec.issuer,
        audience: spec.audience,
        algorithms,
        clockTolerance: this.#o.skewSeconds,
        currentDate: new Date(this.#o.clock.now()),
        requiredClaims: ['exp', 'iss', 'sub'],
      }));
    } catch (err) {
      throw jwtRejected(reasonOf(err), err);
    }
    // RFC 7519 §4.1.6: a token issued in the future (beyond the skew) is forged or from a broken clock.
    if (typeof payload.iat === 'number' && payload.iat * 1000 > this.#o.clock.now() + this.#o.skewSeconds * 1000) throw jwtRejected('issued_in_future');
    return payload;
  }

  #keySet(spec: IssuerSpec): Promise<ReturnType<typeof createRemoteJWKSet>> {
    let p = this.#sets.get(spec.issuer);
    if (!p) {
      p = (async () => {
        const uri = spec.jwksUri ?? (await discoverMetadata(spec.issuer, this.#o.timeoutMs)).jwks_uri;
        if (typeof uri !== 'string') throw new Error(`issuer ${spec.issuer} publishes no jwks_uri`);
        assertSafeIdpUrl(uri);
        return createRemoteJWKSet(new URL(uri), { timeoutDuration: this.#o.timeoutMs, cooldownDuration: this.#o.cooldownMs, cacheMaxAge: this.#o.cacheMaxAgeMs });
      })();
      this.#sets.set(spec.issuer, p);
      // A failed discovery is retried on a later request instead of being cached forever.
      p.catch(() => this.#sets.delete(spec.issuer));
    }
    return p.catch((err: unknown) => {
      throw jwtRejected('jwks_unavailable', err);
    });
  }
}

/** The unverified `iss`, only to pick which issuer's rules and keys apply; nothing else is trusted before verify. */
export function peekIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

export const JWT_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    const byClaim: Record<string, string> = { nbf: 'not_yet_valid', iss: 'wrong_issuer', aud: 'wrong_audience', iat: 'bad_iat', exp: 'expired', sub: 'missing_sub' };
    return byClaim[err.claim] ?? `bad_claim`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return 'alg_not_allowed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown_kid';
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'ambiguous_kid';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return 'jwks_unavailable';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed';
  return 'invalid';
}

export function jwtRejected(reason: string, cause?: unknown): GatewayError {
  return new GatewayError('unauthenticated', 'Invalid or untrusted token.', { details: { reason }, cause });
}
