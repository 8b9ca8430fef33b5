import { GatewayError } from '../../core/errors.ts';
import type { Route } from '../../http/route.ts';
import type { SamlSp } from '../saml/sp.ts';
import { reasonFrom } from '../events.ts';
import { FLOW_TTL_MS, handOff, readLoginParams, type IdentityDeps, type LoginFlow } from './deps.ts';
import { checkCliRedirect, query, readParams, redirect, sendHtml } from './util.ts';
import { clientIp } from '../../core/client-ip.ts';
import { randomHandle } from '../tokens/format.ts';

/** SAML SP endpoints: metadata, SP-initiated login (Redirect binding), ACS (POST binding). */
export function samlRoutes(d: IdentityDeps): Route[] {
  const sp = (name: string | undefined): SamlSp => {
    const s = name ? d.saml.get(name) : undefined;
    if (!s) throw new GatewayError('not_found', `No SAML identity provider named ${name ?? ''}.`);
    return s;
  };
  return [
    {
      method: 'GET', path: '/auth/saml/:idp/metadata',
      async handler(_req, res, params) {
        const xml = sp(params.idp).metadata();
        res.writeHead(200, { 'content-type': 'application/samlmetadata+xml', 'content-length': Buffer.byteLength(xml) });
        res.end(xml);
      },
    },
    {
      method: 'GET', path: '/auth/saml/:idp/login',
      async handler(req, res, params) {
        const s = sp(params.idp);
        const login = readLoginParams(query(req), s.name);
        checkCliRedirect(login.cliRedirect, d.publicUrl);
        const relay = randomHandle();
        await d.flows.put('saml', relay, login satisfies LoginFlow, FLOW_TTL_MS);
        redirect(res, await s.loginUrl(relay));
      },
    },
    {
      method: 'POST', path: '/auth/saml/:idp/acs',
      async handler(req, res, params) {
        const s = sp(params.idp);
        const ip = clientIp(req, d.trustProxy);
        const wait = d.limiter.retryAfter(ip);
        if (wait > 0) return sendHtml(res, 429, 'Too many attempts', 'Too many failed sign-ins from your address; try again later.');
        const body = await readParams(req);
        let result: Awaited<ReturnType<SamlSp['accept']>>;
        try {
          result = await s.accept(body);
        } catch (err) {
          d.limiter.recordFailure(ip);
          const reason = reasonFrom(err, 'invalid_response');
          d.emit({ type: 'auth.login.failed', at: d.clock.now(), reason, source: `saml:${s.name}`, method: 'saml', sourceIp: ip });
          return sendHtml(res, 401, 'Sign-in failed', `The identity provider's response was rejected (${reason}).`);
        }
        const flow = body.RelayState ? await d.flows.take<LoginFlow>('saml', body.RelayState) : undefined;
        if (!flow || flow.idp !== s.name) {
          // Unsolicited (IdP-initiated) and allowed: the person is known, but no CLI is waiting for tokens.
          d.emit({ type: 'auth.login.succeeded', at: d.clock.now(), subject: result.identity.subject, source: result.identity.source, groups: result.identity.groups, method: 'saml' });
          return sendHtml(res, 200, 'Signed in', 'You are signed in. To get a token for your tools, run `portcullis login` in a terminal.');
        }
        redirect(res, await handOff(d, flow, { identity: result.identity, idpRefreshToken: undefined, sessionTtlMs: s.sessionTtlMs }));
      },
    },
  ];
}
