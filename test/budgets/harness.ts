import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../src/core/clock.ts';
import { GatewayError, toGatewayError } from '../../src/core/errors.ts';
import type { Principal } from '../../src/core/principal.ts';
import { Router, type Route } from '../../src/http/route.ts';
import { ApiKeyAuthenticator } from '../../src/identity/api-key-authenticator.ts';
import { openGuard, type ExchangeGuard } from '../../src/proxy/guard.ts';
import type { ExchangeContext } from '../../src/proxy/context.ts';
import type { Store } from '../../src/store/ports.ts';

/**
 * A stand-in for the policy decider while it is being built: an ExchangeGuard that runs `hook` after the open
 * guard's allow decision. The hook may throw a GatewayError (refusal in the caller's protocol) or set
 * ctx.upstreamBody — exactly what the decider does with the budget and template modules.
 */
export function hookGuard(hook: (ctx: ExchangeContext) => Promise<void>): ExchangeGuard {
  return {
    ...openGuard,
    async inspectRequest(ctx) {
      await openGuard.inspectRequest(ctx);
      await hook(ctx);
    },
  };
}

/** Serves admin routes on 127.0.0.1:0 with the gateway's key store (main.ts mounts them on the gateway itself). */
export async function startAdminRoutes(routes: Route[]): Promise<{ url: string; close(): Promise<void> }> {
  const router = new Router().add(...routes);
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        const m = router.match(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!);
        if (!m || m === 'method') throw new GatewayError('not_found', 'No such endpoint.');
        await m.route.handler(req, res, m.params);
      } catch (err) {
        const g = toGatewayError(err);
        res.writeHead(g.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: g.code, message: g.publicMessage } }));
      }
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

/** The gateway's authenticate function shape, backed by the store's API keys (roles as in the test config). */
export function keyAuthenticate(store: Store): (credential: string | undefined) => Promise<Principal> {
  const keys = new ApiKeyAuthenticator({ repo: store.apiKeys, clock: systemClock, roles: { admin: ['portcullis-admins'], user: ['eng', 'contractors'] }, cacheTtlMs: 0 });
  return async (credential) => {
    if (!credential || !keys.accepts(credential)) throw new GatewayError('unauthenticated', 'Invalid or missing Portcullis API key.');
    return keys.authenticate(credential, { sourceIp: undefined, userAgent: undefined });
  };
}
