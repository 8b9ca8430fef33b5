import { systemClock } from '../../src/core/clock.ts';
import { GatewayError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/core/logger.ts';
import type { Principal } from '../../src/core/principal.ts';
import { policyRoutes } from '../../src/admin/policy-routes.ts';
import { startPolicyModule, type PolicyModule } from '../../src/governance/policy-module.ts';
import { PolicySimulator } from '../../src/governance/policy-simulate.ts';
import { ApiKeyAuthenticator } from '../../src/identity/api-key-authenticator.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import type { ExchangeGuard } from '../../src/proxy/guard.ts';
import { RouteTable } from '../../src/proxy/routes.ts';
import { openPolicyRepo } from '../../src/store/policy-repo.ts';
import { startAdminRoutes } from '../budgets/harness.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** The routes of the policy tests: exact names (so /v1/models lists them) and a "self-hosted" model. */
const ROUTES = [
  { model: 'gpt-4o', provider: 'openai' },
  { model: 'gpt-4o-mini', provider: 'openai' },
  { model: 'local-llama', provider: 'openai', upstream_model: 'llama-3-local' },
  { model: 'claude-*', provider: 'anthropic' },
];
const ROUTES_YAML = 'routes:\n' + ROUTES.map((r) => `  - model: "${r.model}"\n    provider: ${r.provider}${r.upstream_model ? `\n    upstream_model: ${r.upstream_model}` : ''}`).join('\n');
const ROLES = { admin: ['portcullis-admins'], 'policy-author': ['policy-authors'], auditor: ['auditors'] };

export interface PolicyGateway {
  t: TestGateway;
  policy: PolicyModule;
  /** Admin API base URL serving the policy routes (main.ts mounts them on the gateway itself). */
  adminUrl: string;
  keys: { admin: string; alice: string; bob: string; author: string };
  close(): Promise<void>;
}

/**
 * A real gateway + mock upstream, wired to the policy module exactly as the composition root does it: the
 * runtime swaps the gateway's guard, the routes serve the admin API over a real socket.
 */
export async function startPolicyGateway(o: { mockDelayMs?: number; policyFile?: string; maxBodyBytes?: number; wrapGuard?: (g: ExchangeGuard) => ExchangeGuard } = {}): Promise<PolicyGateway> {
  // The gateway composes its own policy module (src/compose/governance.ts) on the same store and guard slot. Its
  // poll would check this harness's activations too (it refused unchained ones: a 503 `evaluation_error` once a
  // 5 s tick fell between an activation and the next request), so it does not poll: this module drives the guard.
  const t = await startTestGateway({ routesYaml: ROUTES_YAML, mockChunks: 6, mockDelayMs: o.mockDelayMs ?? 0, maxBodyBytes: o.maxBodyBytes, extraYaml: 'policy:\n  poll_interval_ms: 0\n' });
  const table = new RouteTable(ROUTES, [{ name: 'openai', type: 'openai' }, { name: 'anthropic', type: 'anthropic' }]);
  // A policy that stops the start (an invalid file) must not leave the gateway and mock upstream listening.
  const policy = await startPolicyModule({
    repo: openPolicyRepo(t.gw.store), tokenVault: t.gw.store.tokenVault, keyring: t.gw.keyring, clock: systemClock,
    logger: createLogger('silent'), setGuard: (g) => t.gw.setGuard(o.wrapGuard ? o.wrapGuard(g) : g), resolveRoute: (m, f) => table.resolve(m, f),
    baseDir: t.dir, config: { poll_interval_ms: 0, file: o.policyFile },
    // As in production: activations are chained in the audit trail and checked against it when loaded.
    ledger: t.gw.evidence.policyLedger,
  }).catch(async (err: unknown) => {
    await t.close();
    throw err;
  });
  const authenticate = keyAuthenticate(t);
  const simulator = new PolicySimulator({ exchanges: t.gw.store.exchanges, service: policy.service, load: policy.load, keyring: t.gw.keyring });
  const admin = await startAdminRoutes(policyRoutes({ service: policy.service, runtime: policy.runtime, simulator, authenticate, clock: systemClock }));
  const key = async (name: string, groups: string[]) => (await createApiKey(t.gw.store.apiKeys, { name, kind: 'user', groups, expiresAt: null, createdBy: 'test' }, Date.now())).secret;
  return {
    t, policy, adminUrl: admin.url,
    keys: { admin: t.adminKey, alice: t.userKey, bob: await key('bob', ['contractors']), author: await key('pat', ['policy-authors']) },
    async close() {
      policy.runtime.close();
      await admin.close();
      await t.close();
    },
  };
}

function keyAuthenticate(t: TestGateway): (credential: string | undefined) => Promise<Principal> {
  const keys = new ApiKeyAuthenticator({ repo: t.gw.store.apiKeys, clock: systemClock, roles: ROLES, cacheTtlMs: 0 });
  return async (credential) => {
    if (!credential || !keys.accepts(credential)) throw new GatewayError('unauthenticated', 'Invalid or missing Portcullis API key.');
    return keys.authenticate(credential, { sourceIp: undefined, userAgent: undefined });
  };
}

/** Calls the admin API; returns status and parsed body. */
export async function admin(base: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${base}${path}`, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}
