import type { Clock } from '../core/clock.ts';
import type { Principal } from '../core/principal.ts';
import { GatewayError } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import { resolveSecretRef } from '../config/secrets.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Route } from '../http/route.ts';
import type { AuthContext, Authenticator } from './authenticator.ts';
import type { IdentityConfig } from './config-schema.ts';
import { safeEmitter, type EmitIdentityEvent } from './events.ts';
import { FlowStore } from './flows.ts';
import { guarded } from './guarded.ts';
import type { IdentityDeps } from './http/deps.ts';
import { oidcRoutes } from './http/oidc-routes.ts';
import { samlRoutes } from './http/saml-routes.ts';
import { tokenRoutes } from './http/token-routes.ts';
import { JwtAuthenticator } from './jwt/jwt-authenticator.ts';
import { JwtVerifier } from './jwt/verifier.ts';
import { OidcClient } from './oidc/client.ts';
import { FailureRateLimiter } from './rate-limit.ts';
import type { IdentityRepo } from './repo.ts';
import { SamlSp } from './saml/sp.ts';
import { SessionAuthenticator } from './tokens/session-authenticator.ts';
import { SessionService } from './tokens/sessions.ts';

export type { IdentityEvent, EmitIdentityEvent } from './events.ts';

export interface CreateIdentityOptions {
  config: Config;
  /** Identity persistence (src/store/identity-repo.ts `openIdentityRepo(store)`). */
  repo: IdentityRepo;
  keyring: Keyring;
  clock: Clock;
  /** Externally visible base URL of the gateway (redirect URIs, SAML ACS); no trailing slash. */
  publicUrl: string;
  emit: EmitIdentityEvent;
  /** For secret references in the identity section. */
  env?: NodeJS.ProcessEnv;
  baseDir?: string;
  /**
   * The gateway's whole authenticator chain, for /auth/whoami (so it also answers for `pcl_` keys). Defaults to
   * the identity authenticators alone.
   */
  authenticate?: (credential: string | undefined, ctx: AuthContext) => Promise<Principal>;
}

export interface Identity {
  /** Put these in the gateway's chain (first whose `accepts` matches). Already rate limited and emitting events. */
  authenticators: Authenticator[];
  /** Mount on the gateway's HTTP server (all under /auth/). */
  routes: Route[];
  /** Wrap another authenticator (e.g. API keys) in the same bad-credential flood guard. */
  guard(a: Authenticator, label: string): Authenticator;
  /** Revoke every session of a subject (offboarding); applies to the next request on this replica. */
  revokeSubject(subject: string, reason: string): Promise<number>;
  /** Forget a cached session row (another replica revoked it): the next request re-reads the store. */
  invalidateSession(sessionId: string): void;
  /** Drops expired flows, replay entries and old sessions; call periodically. */
  purge(): Promise<number>;
}

/** Composition of the identity module: OIDC RP, SAML SP, minted tokens, workload identity, JWT bearer. */
export async function createIdentity(o: CreateIdentityOptions): Promise<Identity> {
  const cfg: IdentityConfig = o.config.identity ?? emptyIdentityConfig();
  const publicUrl = (cfg.public_url ?? o.publicUrl).replace(/\/+$/, '');
  const emit = safeEmitter(o.emit);
  const { clock, repo } = o;
  const limiter = new FailureRateLimiter({ burst: cfg.rate_limit.burst, perSecond: cfg.rate_limit.per_second, clock });
  const sessionAuth = new SessionAuthenticator({ repo, clock, roles: o.config.auth.roles, cacheTtlMs: cfg.tokens.cache_ttl_ms });
  const sessions = new SessionService({
    repo, keyring: o.keyring, clock, emit, accessTtlMs: cfg.tokens.access_ttl_seconds * 1000, sessionTtlMs: cfg.tokens.session_ttl_seconds * 1000,
    onChange: (id) => sessionAuth.invalidate(id),
  });
  const verifier = new JwtVerifier({ clock, skewSeconds: cfg.clock_skew_seconds, timeoutMs: cfg.jwks.timeout_ms, cooldownMs: cfg.jwks.cooldown_ms, cacheMaxAgeMs: cfg.jwks.cache_max_age_ms });
  const secrets = { env: o.env ?? process.env, baseDir: o.baseDir ?? process.cwd() };
  const flows = new FlowStore({ repo, keyring: o.keyring, clock });
  const oidc = new Map<string, OidcClient>();
  for (const idp of cfg.oidc) {
    const clientSecret = idp.client_secret ? await resolveSecretRef(idp.client_secret, secrets) : undefined;
    oidc.set(idp.name, new OidcClient({ ...idp, clientSecret }, cfg.clock_skew_seconds));
  }
  const saml = new Map<string, SamlSp>();
  for (const idp of cfg.saml) {
    const certs = await Promise.all((Array.isArray(idp.idp_cert) ? idp.idp_cert : [idp.idp_cert]).map((c) => resolveSecretRef(c, secrets)));
    const spPrivateKey = idp.sp_private_key ? await resolveSecretRef(idp.sp_private_key, secrets) : undefined;
    const spCertPem = idp.sp_cert ? await resolveSecretRef(idp.sp_cert, secrets) : undefined;
    saml.set(idp.name, new SamlSp({ idp: { ...idp, idpCerts: certs, spPrivateKey, spCertPem }, publicUrl, flows, repo, clock, skewSeconds: cfg.clock_skew_seconds }));
  }
  const guard = (a: Authenticator, label: string): Authenticator => guarded(a, { limiter, emit, clock, label });
  const jwt = new JwtAuthenticator({
    verifier, roles: o.config.auth.roles, bearerIdps: cfg.oidc.filter((i) => i.bearer), workloadIssuers: cfg.workload.issuers, workloadRules: cfg.workload.rules,
  });
  const authenticators = [guard(sessionAuth, 'session'), ...(jwtConfigured(cfg) ? [guard(jwt, 'jwt')] : [])];
  const authenticate = o.authenticate ?? (async (credential: string | undefined, ctx: AuthContext) => {
    const a = credential ? authenticators.find((x) => x.accepts(credential)) : undefined;
    if (!a || !credential) throw new GatewayError('unauthenticated', 'Missing or unrecognized credential.', { details: { reason: 'unrecognized' } });
    return a.authenticate(credential, ctx);
  });
  const deps: IdentityDeps = { config: cfg, publicUrl, clock, emit, sessions, flows, verifier, limiter, oidc, saml, trustProxy: o.config.server.trust_proxy, authenticate };
  return {
    authenticators,
    routes: [...tokenRoutes(deps), ...oidcRoutes(deps), ...samlRoutes(deps)],
    guard,
    async revokeSubject(subject, reason) {
      const live = await repo.listSessions({ subject, activeAt: clock.now(), limit: 10_000 });
      const n = await repo.revokeSubject(subject, clock.now(), reason);
      for (const s of live) sessionAuth.invalidate(s.id);
      if (n > 0) emit({ type: 'auth.token.revoked', at: clock.now(), subject, reason });
      return n;
    },
    invalidateSession: (id) => sessionAuth.invalidate(id),
    purge: () => repo.purge(clock.now()),
  };
}

function jwtConfigured(cfg: IdentityConfig): boolean {
  return cfg.oidc.some((i) => i.bearer) || cfg.workload.rules.some((r) => r.allow_direct);
}

function emptyIdentityConfig(): IdentityConfig {
  return {
    clock_skew_seconds: 60, tokens: { access_ttl_seconds: 900, session_ttl_seconds: 7 * 86_400, cache_ttl_ms: 1_000 },
    rate_limit: { burst: 20, per_second: 1 }, jwks: { timeout_ms: 5_000, cooldown_ms: 30_000, cache_max_age_ms: 600_000 }, oidc: [], saml: [], workload: { issuers: [], rules: [] },
  };
}
