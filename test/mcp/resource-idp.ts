import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// oidc-provider ships no type declarations; the test only needs its constructor and callback().
// @ts-expect-error -- untyped module
import ProviderModule from 'oidc-provider';

const Provider = ProviderModule as new (issuer: string, config: Record<string, unknown>) => { callback(): (req: unknown, res: unknown) => void };

export interface ResourceIdp {
  issuer: string;
  /** An access token (JWT, RFC 9068) for `resource` (RFC 8707 resource indicator), from the client credentials grant. */
  tokenFor(resource: string): Promise<string>;
  close(): Promise<void>;
}

export const IDP_CLIENT = 'agent-1';
export const IDP_SCOPE = 'mcp:tools';

/**
 * A real authorization server (panva/node-oidc-provider) on loopback with resource indicators on: it issues JWT
 * access tokens whose `aud` is the resource the client asked for — as an MCP client's authorization server does
 * (MCP authorization §Resource Parameter Implementation). The token carries `groups: [eng]` for the gateway's policy.
 */
export async function startResourceIdp(): Promise<ResourceIdp> {
  const server: Server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: IDP_CLIENT, client_secret: 'agent-secret-0123456789', grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post', scope: IDP_SCOPE,
    }],
    scopes: [IDP_SCOPE],
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({ scope: IDP_SCOPE, audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    extraTokenClaims: () => ({ groups: ['eng'] }),
  });
  server.on('request', provider.callback());
  return {
    issuer,
    async tokenFor(resource) {
      const r = await fetch(`${issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: IDP_CLIENT, client_secret: 'agent-secret-0123456789', resource, scope: IDP_SCOPE }).toString(),
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
