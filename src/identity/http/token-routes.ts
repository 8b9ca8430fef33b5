import type { IncomingMessage } from 'node:http';
import { ResponseBodyError } from 'openid-client';
import { GatewayError } from '../../core/errors.ts';
import type { Route } from '../../http/route.ts';
import { oidcIdentity } from '../claims-identity.ts';
import { verifyWorkload } from '../jwt/jwt-authenticator.ts';
import { peekIssuer } from '../jwt/verifier.ts';
import type { IdpRefresher } from '../tokens/sessions.ts';
import { workloadIdentity } from '../workload/rules.ts';
import { pkceMatches, type Handoff, type IdentityDeps } from './deps.ts';
import { oauthError, readParams, sendJson, sendOAuthError } from './util.ts';
import { clientIp } from '../../core/client-ip.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPES = new Set(['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token']);

/**
 * OAuth endpoints of the gateway: the token endpoint (code hand-off, refresh, RFC 8693 token exchange), RFC 7009
 * revocation, and whoami. Failures count against the caller's source address (FailureRateLimiter).
 */
export function tokenRoutes(d: IdentityDeps): Route[] {
  return [
    {
      method: 'POST', path: '/auth/token',
      async handler(req, res) {
        const ip = clientIp(req, d.trustProxy);
        try {
          limit(d, ip);
          const p = await readParams(req);
          sendJson(res, 200, await grant(d, p));
        } catch (err) {
          if (err instanceof GatewayError && err.status < 500 && err.code !== 'rate_limited') {
            d.limiter.recordFailure(ip);
            const reason = typeof err.details?.reason === 'string' ? err.details.reason : err.code;
            const subject = typeof err.details?.subject === 'string' ? err.details.subject : undefined;
            d.emit({ type: 'auth.token.rejected', at: d.clock.now(), reason, subject, sourceIp: ip, source: 'token_endpoint' });
          }
          sendOAuthError(res, err);
        }
      },
    },
    {
      method: 'POST', path: '/auth/revoke',
      async handler(req, res) {
        try {
          const p = await readParams(req);
          const token = p.token ?? bearer(req);
          if (token) await d.sessions.revokeToken(token);
          // RFC 7009 §2.2: unknown or already-invalid tokens still get 200, so the endpoint is no token oracle.
          sendJson(res, 200, {});
        } catch (err) {
          sendOAuthError(res, err);
        }
      },
    },
    {
      method: 'GET', path: '/auth/whoami',
      async handler(req, res) {
        const p = await d.authenticate(bearer(req), { sourceIp: clientIp(req, d.trustProxy), userAgent: req.headers['user-agent'] });
        sendJson(res, 200, { subject: p.subject, kind: p.kind, name: p.displayName, groups: p.groups, roles: p.roles, auth_method: p.authMethod, credential_id: p.credentialId });
      },
    },
    {
      method: 'GET', path: '/auth/providers',
      async handler(_req, res) {
        sendJson(res, 200, {
          oidc: [...d.oidc.values()].map((c) => ({ name: c.idp.name, device_flow: c.idp.device_flow, login: `/auth/oidc/${c.idp.name}/login` })),
          saml: [...d.saml.values()].map((s) => ({ name: s.name, login: `/auth/saml/${s.name}/login`, metadata: `/auth/saml/${s.name}/metadata` })),
        });
      },
    },
  ];
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

function limit(d: IdentityDeps, ip: string | undefined): void {
  const wait = d.limiter.retryAfter(ip);
  if (wait > 0) {
    d.emit({ type: 'auth.rate_limited', at: d.clock.now(), sourceIp: ip, source: 'token_endpoint' });
    throw new GatewayError('rate_limited', 'Too many failed attempts; retry later.', { headers: { 'retry-after': String(wait) }, details: { oauth_error: 'slow_down' } });
  }
}

async function grant(d: IdentityDeps, p: Record<string, string>): Promise<unknown> {
  switch (p.grant_type) {
    case 'authorization_code': return redeemHandoff(d, p);
    case 'refresh_token': {
      if (!p.refresh_token) throw oauthError('invalid_request', 'refresh_token is required.');
      return d.sessions.refresh(p.refresh_token, idpRefresher(d));
    }
    case TOKEN_EXCHANGE: return exchange(d, p);
    default: throw oauthError('unsupported_grant_type', 'Use authorization_code, refresh_token or token exchange.');
  }
}

async function redeemHandoff(d: IdentityDeps, p: Record<string, string>): Promise<unknown> {
  if (!p.code || !p.code_verifier) throw oauthError('invalid_request', 'code and code_verifier are required.');
  const h = await d.flows.take<Handoff>('handoff', p.code);
  if (!h) throw oauthError('invalid_grant', 'The code is invalid, expired or already used.', 400, 'unknown_code');
  if (!pkceMatches(p.code_verifier, h.cliChallenge)) throw oauthError('invalid_grant', 'PKCE verification failed.', 400, 'pkce_mismatch');
  return d.sessions.issue({ identity: h.identity, authMethod: 'session_token', idpRefreshToken: h.idpRefreshToken, sessionTtlMs: h.sessionTtlMs });
}

/**
 * RFC 8693 token exchange: a CI job trades its own OIDC JWT for a short-lived Portcullis token. Only workload
 * issuers are accepted and the first matching rule decides the service identity and groups; no refresh token is
 * issued (RFC 8693 §2.2.1: the job exchanges again).
 */
async function exchange(d: IdentityDeps, p: Record<string, string>): Promise<unknown> {
  const token = p.subject_token;
  if (!token || !p.subject_token_type) throw oauthError('invalid_request', 'subject_token and subject_token_type are required.');
  if (!JWT_TYPES.has(p.subject_token_type)) throw oauthError('invalid_request', 'subject_token_type must be a JWT type.');
  if (p.requested_token_type && p.requested_token_type !== 'urn:ietf:params:oauth:token-type:access_token') {
    throw oauthError('invalid_request', 'Only access tokens can be requested.');
  }
  const iss = peekIssuer(token);
  const wl = d.config.workload.issuers.find((i) => i.issuer === iss);
  if (!wl) throw oauthError('invalid_grant', 'The subject token is not from a trusted workload issuer.', 400, 'unknown_issuer');
  const claims = await verifyWorkload(d.verifier, wl, token).catch((err: unknown) => {
    const reason = err instanceof GatewayError && typeof err.details?.reason === 'string' ? err.details.reason : 'invalid';
    throw oauthError('invalid_grant', 'The subject token is invalid.', 400, reason);
  });
  const m = workloadIdentity({ rules: d.config.workload.rules, issuerName: wl.name, claims, direct: false });
  if (!m) throw oauthError('invalid_grant', 'No workload rule matches this token.', 400, 'no_matching_rule');
  const out = await d.sessions.issue({ identity: m.identity, authMethod: 'workload_jwt' });
  return { ...out, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' };
}

function idpRefresher(d: IdentityDeps): IdpRefresher {
  return async (source, idpRefreshToken) => {
    const client = source.startsWith('oidc:') ? d.oidc.get(source.slice(5)) : undefined;
    if (!client) throw oauthError('invalid_grant', 'This session cannot be refreshed; log in again.', 400, 'not_refreshable');
    const fresh = await client.refresh(idpRefreshToken).catch((err: unknown) => {
      if (err instanceof ResponseBodyError) throw oauthError('invalid_grant', 'The identity provider refused the refresh.', 400, 'idp_refused');
      throw err;
    });
    return { identity: oidcIdentity(client.idp, fresh.claims), idpRefreshToken: fresh.refreshToken };
  };
}
