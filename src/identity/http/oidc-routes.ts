import * as oidc from 'openid-client';
import { GatewayError } from '../../core/errors.ts';
import type { Route } from '../../http/route.ts';
import { oidcIdentity } from '../claims-identity.ts';
import { reasonFrom } from '../events.ts';
import type { OidcClient } from '../oidc/client.ts';
import { randomHandle } from '../tokens/format.ts';
import { FLOW_TTL_MS, handOff, loginFailedRedirect, readLoginParams, type IdentityDeps, type LoginFlow } from './deps.ts';
import { checkCliRedirect, oauthError, query, readParams, redirect, sendHtml, sendJson, sendOAuthError } from './util.ts';

interface DeviceFlow {
  idp: string;
  deviceCode: string;
  intervalMs: number;
  nextPollAt: number;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * OIDC relying-party endpoints. Browser login: authorization code + PKCE (RFC 7636) + state + nonce (OIDC Core
 * §3.1.2.1), state kept sealed in the store. Device login: RFC 8628 against the IdP's device endpoint, the gateway
 * holding the device code and the CLI polling the gateway with an opaque handle.
 */
export function oidcRoutes(d: IdentityDeps): Route[] {
  const client = (name: string | undefined): OidcClient => {
    const c = name ? d.oidc.get(name) : [...d.oidc.values()].find((x) => x.idp.device_flow);
    if (!c) throw new GatewayError('not_found', `No OIDC identity provider named ${name ?? '(default)'}.`);
    return c;
  };
  const callbackUrl = (name: string): string => `${d.publicUrl}/auth/oidc/${encodeURIComponent(name)}/callback`;
  return [
    {
      method: 'GET', path: '/auth/oidc/:idp/login',
      async handler(req, res, params) {
        const c = client(params.idp);
        const login = readLoginParams(query(req), c.idp.name);
        checkCliRedirect(login.cliRedirect, d.publicUrl);
        const config = await c.config();
        const flow: LoginFlow = { ...login, verifier: oidc.randomPKCECodeVerifier(), nonce: oidc.randomNonce() };
        const state = oidc.randomState();
        await d.flows.put('oidc', state, flow, FLOW_TTL_MS);
        redirect(res, oidc.buildAuthorizationUrl(config, {
          redirect_uri: callbackUrl(c.idp.name), scope: c.idp.scopes.join(' '), state, nonce: flow.nonce!,
          code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier!), code_challenge_method: 'S256',
          ...(c.idp.scopes.includes('offline_access') ? { prompt: 'consent' } : {}),
        }).href);
      },
    },
    {
      method: 'GET', path: '/auth/oidc/:idp/callback',
      async handler(req, res, params) {
        const c = client(params.idp);
        const q = query(req);
        // The state is the flow's key: unknown, expired or replayed state finds nothing (CSRF, RFC 6749 §10.12).
        const flow = await d.flows.take<LoginFlow>('oidc', q.get('state') ?? '');
        if (!flow || flow.idp !== c.idp.name) {
          d.emit({ type: 'auth.login.failed', at: d.clock.now(), reason: 'unknown_state', source: `oidc:${c.idp.name}`, method: 'code' });
          return sendHtml(res, 400, 'Login failed', 'This login link is invalid or has expired. Run `portcullis login` again.');
        }
        try {
          const config = await c.config();
          const current = new URL(callbackUrl(c.idp.name));
          current.search = q.toString();
          const tokens = await oidc.authorizationCodeGrant(config, current, {
            pkceCodeVerifier: flow.verifier!, expectedState: q.get('state')!, expectedNonce: flow.nonce!, idTokenExpected: true,
          });
          const identity = oidcIdentity(c.idp, await c.claimsOf(config, tokens));
          redirect(res, await handOff(d, flow, { identity, idpRefreshToken: tokens.refresh_token, sessionTtlMs: undefined }));
        } catch (err) {
          const reason = err instanceof oidc.AuthorizationResponseError ? err.error : reasonFrom(err, 'idp_error');
          d.emit({ type: 'auth.login.failed', at: d.clock.now(), reason, source: `oidc:${c.idp.name}`, method: 'code' });
          redirect(res, loginFailedRedirect(flow, reason === 'access_denied' ? 'access_denied' : 'login_failed'));
        }
      },
    },
    {
      method: 'POST', path: '/auth/device/start',
      async handler(req, res) {
        try {
          const p = await readParams(req);
          const c = client(p.idp);
          if (!c.idp.device_flow) throw oauthError('unauthorized_client', `Device login is disabled for ${c.idp.name}.`);
          const r = await oidc.initiateDeviceAuthorization(await c.config(), { scope: c.idp.scopes.join(' ') });
          const handle = randomHandle();
          const intervalMs = (r.interval ?? 5) * 1000;
          const flow: DeviceFlow = { idp: c.idp.name, deviceCode: r.device_code, intervalMs, nextPollAt: 0 };
          await d.flows.put('device', handle, flow, r.expires_in * 1000);
          sendJson(res, 200, {
            device_handle: handle, user_code: r.user_code, verification_uri: r.verification_uri,
            verification_uri_complete: r.verification_uri_complete, expires_in: r.expires_in, interval: intervalMs / 1000,
          });
        } catch (err) {
          sendOAuthError(res, err);
        }
      },
    },
    {
      method: 'POST', path: '/auth/device/poll',
      async handler(req, res) {
        try {
          const p = await readParams(req);
          sendJson(res, 200, await pollDevice(d, client, p.device_handle ?? ''));
        } catch (err) {
          sendOAuthError(res, err);
        }
      },
    },
  ];
}

/** One poll (RFC 8628 §3.4-3.5): pending/slow_down pass through; the gateway also enforces the interval itself. */
async function pollDevice(d: IdentityDeps, client: (n: string) => OidcClient, handle: string): Promise<unknown> {
  const flow = await d.flows.get<DeviceFlow>('device', handle);
  if (!flow) throw oauthError('expired_token', 'The device code is unknown or expired; start again.');
  const now = d.clock.now();
  if (now < flow.nextPollAt) throw oauthError('slow_down', 'Polling too fast.');
  await d.flows.put('device', handle, { ...flow, nextPollAt: now + flow.intervalMs - 250 }, FLOW_TTL_MS);
  const c = client(flow.idp);
  const config = await c.config();
  let tokens: Awaited<ReturnType<typeof oidc.genericGrantRequest>>;
  try {
    tokens = await oidc.genericGrantRequest(config, DEVICE_GRANT, { device_code: flow.deviceCode });
  } catch (err) {
    if (err instanceof oidc.ResponseBodyError && (err.error === 'authorization_pending' || err.error === 'slow_down')) {
      if (err.error === 'slow_down') await d.flows.put('device', handle, { ...flow, intervalMs: flow.intervalMs + 5000, nextPollAt: now + flow.intervalMs + 5000 }, FLOW_TTL_MS);
      throw oauthError(err.error, err.error === 'slow_down' ? 'Polling too fast.' : 'Waiting for the user to approve.');
    }
    await d.flows.take('device', handle);
    const reason = err instanceof oidc.ResponseBodyError ? err.error : 'idp_error';
    d.emit({ type: 'auth.login.failed', at: now, reason, source: `oidc:${flow.idp}`, method: 'device' });
    throw oauthError(reason === 'access_denied' ? 'access_denied' : 'expired_token', 'The device login was denied or has expired.');
  }
  await d.flows.take('device', handle);
  const identity = oidcIdentity(c.idp, await c.claimsOf(config, tokens));
  d.emit({ type: 'auth.login.succeeded', at: now, subject: identity.subject, source: identity.source, groups: identity.groups, method: 'device' });
  return d.sessions.issue({ identity, authMethod: 'session_token', idpRefreshToken: tokens.refresh_token });
}
