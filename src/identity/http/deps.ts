import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import type { Principal } from '../../core/principal.ts';
import type { AuthContext } from '../authenticator.ts';
import type { IdentityConfig } from '../config-schema.ts';
import type { EmitIdentityEvent } from '../events.ts';
import type { FlowStore } from '../flows.ts';
import type { JwtVerifier } from '../jwt/verifier.ts';
import type { OidcClient } from '../oidc/client.ts';
import type { FailureRateLimiter } from '../rate-limit.ts';
import type { SamlSp } from '../saml/sp.ts';
import type { SessionRecord } from '../repo.ts';
import type { SessionService, VerifiedIdentity } from '../tokens/sessions.ts';
import { randomHandle } from '../tokens/format.ts';
import { oauthError } from './util.ts';

/** Everything the identity endpoints need, built once by createIdentity. */
export interface IdentityDeps {
  config: IdentityConfig;
  publicUrl: string;
  clock: Clock;
  emit: EmitIdentityEvent;
  sessions: SessionService;
  flows: FlowStore;
  verifier: JwtVerifier;
  limiter: FailureRateLimiter;
  oidc: ReadonlyMap<string, OidcClient>;
  saml: ReadonlyMap<string, SamlSp>;
  trustProxy: boolean;
  /** The gateway's authenticator chain (whoami accepts any credential the gateway accepts). */
  authenticate(credential: string | undefined, ctx: AuthContext): Promise<Principal>;
}

/** State of a browser login, from /login to the IdP callback. */
export interface LoginFlow {
  idp: string;
  cliRedirect: string;
  cliChallenge: string;
  cliState: string | undefined;
  verifier?: string;
  nonce?: string;
}

/** A finished login waiting for the CLI to redeem its one-time code with its PKCE verifier. */
export interface Handoff {
  identity: VerifiedIdentity;
  idpRefreshToken: string | undefined;
  cliChallenge: string;
  sessionTtlMs: number | undefined;
}

export const FLOW_TTL_MS = 10 * 60_000;
const HANDOFF_TTL_MS = 60_000;

export const CHALLENGE_RE = /^[A-Za-z0-9_-]{43}$/;

/** RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge. */
export function pkceMatches(verifier: string, challenge: string): boolean {
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false;
  return createHash('sha256').update(verifier).digest('base64url') === challenge;
}

/**
 * The gateway acts as the authorization server for the CLI (RFC 8252 native app pattern): after the IdP login it
 * redirects to the CLI's loopback listener with a one-time code bound to the CLI's PKCE challenge, so a code
 * intercepted on the loopback (another local process, a browser extension) cannot be redeemed.
 */
export async function handOff(d: IdentityDeps, flow: LoginFlow, h: Omit<Handoff, 'cliChallenge'>): Promise<string> {
  const code = randomHandle();
  await d.flows.put('handoff', code, { ...h, cliChallenge: flow.cliChallenge } satisfies Handoff, HANDOFF_TTL_MS);
  d.emit({ type: 'auth.login.succeeded', at: d.clock.now(), subject: h.identity.subject, source: h.identity.source, groups: h.identity.groups, method: flow.verifier ? 'code' : 'saml' });
  const u = new URL(flow.cliRedirect);
  u.searchParams.set('code', code);
  if (flow.cliState) u.searchParams.set('state', flow.cliState);
  return u.toString();
}

export function loginFailedRedirect(flow: LoginFlow, error: string): string {
  const u = new URL(flow.cliRedirect);
  u.searchParams.set('error', error);
  if (flow.cliState) u.searchParams.set('state', flow.cliState);
  return u.toString();
}

export function readLoginParams(q: URLSearchParams, idp: string): Omit<LoginFlow, 'verifier' | 'nonce'> {
  const cliChallenge = q.get('cli_challenge') ?? '';
  if (!CHALLENGE_RE.test(cliChallenge)) throw oauthError('invalid_request', 'cli_challenge (S256 PKCE challenge) is required.');
  const cliState = q.get('cli_state') ?? undefined;
  if (cliState !== undefined && !/^[A-Za-z0-9._~-]{1,128}$/.test(cliState)) throw oauthError('invalid_request', 'cli_state is malformed.');
  return { idp, cliRedirect: q.get('cli_redirect') ?? '', cliChallenge, cliState };
}

export function sessionView(s: SessionRecord): Record<string, unknown> {
  return { id: s.id, subject: s.subject, kind: s.kind, source: s.source, groups: s.groups, created_at: new Date(s.createdAt).toISOString(), expires_at: new Date(s.expiresAt).toISOString(), revoked_at: s.revokedAt === null ? null : new Date(s.revokedAt).toISOString() };
}
