import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// oidc-provider ships no type declarations; the test only needs its constructor and callback().
// @ts-expect-error -- untyped module
import ProviderModule from 'oidc-provider';

const Provider = ProviderModule as new (issuer: string, config: Record<string, unknown>) => { callback(): (req: unknown, res: unknown) => void };

export interface ResourceIdp {
  issuer: string;
  /**
   * An access token (JWT, RFC 9068) for `resource` (RFC 8707 resource indicator), from the client credentials grant,
   * with `scope` (default `mcp:tools`); `scp: true` — from the client whose tokens carry `scp: [..]` instead of `scope`.
   */
  tokenFor(resource: string, o?: { scope?: string; scp?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export const IDP_CLIENT = 'agent-1';
export const IDP_SCOPE = 'mcp:tools';
/** Every scope the authorization server grants (to every client and resource). */
export const IDP_SCOPES = [IDP_SCOPE, 'files:write'];
/** Its tokens carry the scopes as an `scp` array (as Entra ID and Okta emit them), without `scope`. */
export const IDP_SCP_CLIENT = 'agent-scp';
/** A client authenticating with HTTP Basic (RFC 6749 §2.3.1), as the MCP SDK's ClientCredentialsProvider does. */
export const IDP_SDK_CLIENT = { id: 'agent-sdk', secret: 'agent-sdk-secret-0123456789' };

/**
 * A real authorization server (panva/node-oidc-provider) on loopback with resource indicators on: it issues JWT
 * access tokens whose `aud` is the resource the client asked for — as an MCP client's authorization server does
 * (MCP authorization §Resource Parameter Implementation). The token carries `groups: [eng]` for the gateway's policy.
 */
export async function startResourceIdp(): Promise<ResourceIdp> {
  const server: Server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const scope = IDP_SCOPES.join(' ');
  const client = (id: string, secret: string, auth: string): Record<string, unknown> => ({
    client_id: id, client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: auth, scope,
  });
  const provider = new Provider(issuer, {
    clients: [
      client(IDP_CLIENT, 'agent-secret-0123456789', 'client_secret_post'),
      client(IDP_SCP_CLIENT, 'agent-secret-0123456789', 'client_secret_post'),
      client(IDP_SDK_CLIENT.id, IDP_SDK_CLIENT.secret, 'client_secret_basic'),
    ],
    scopes: IDP_SCOPES,
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({ scope, audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    extraTokenClaims: () => ({ groups: ['eng'] }),
    formats: {
      customizers: {
        jwt(_ctx: unknown, token: { clientId?: string }, jwt: { payload: Record<string, unknown> }) {
          if (token.clientId !== IDP_SCP_CLIENT || typeof jwt.payload.scope !== 'string') return;
          jwt.payload.scp = jwt.payload.scope.split(' ');
          delete jwt.payload.scope;
        },
      },
    },
  });
  server.on('request', provider.callback());
  return {
    issuer,
    async tokenFor(resource, o = {}) {
      const clientId = o.scp ? IDP_SCP_CLIENT : IDP_CLIENT;
      const r = await fetch(`${issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: 'agent-secret-0123456789', resource, scope: o.scope ?? IDP_SCOPE }).toString(),
      });
      const body = await r.json() as { access_token?: string };
      if (r.status !== 200 || !body.access_token) throw new Error(`token for ${resource}: ${r.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** The MCP policy of the authorization tests: eng may use servers `a` and `b` (the IdP's tokens carry `groups: [eng]`). */
export const ENG_MAY_USE_A_AND_B = `
version: 1
defaults: { effect: allow }
rules: []
mcp:
  defaults: { effect: deny }
  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [a, b] }
`;

/** The gateway's identity section trusting the IdP's access tokens (`bearer`, LLM audience `llmAudience`). */
export const bearerIdentityYaml = (idp: ResourceIdp, llmAudience: string): string => `
identity:
  rate_limit: { burst: 1000, per_second: 1 }
  oidc:
    - { name: corp, issuer: "${idp.issuer}", client_id: portcullis, algorithms: [RS256], groups: { claim: groups }, bearer: { audience: "${llmAudience}" } }
`;

export const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

/** A raw MCP POST, as an attacker sends it (no SDK in the way); no `token`: no Authorization header. */
export async function postMcp(url: string, token: string | undefined, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST', body: JSON.stringify(body),
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...headers,
    },
  });
}
