import type { ServerResponse } from 'node:http';
import type { Authenticate } from '../admin/http.ts';
import type { ApprovalGate } from '../approvals/gate.ts';
import type { ApprovalRequirement } from '../approvals/rule.ts';
import type { BudgetEnforcer } from '../policy/budgets/index.ts';
import type { ExchangeRecorder } from '../audit/recorder.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { GatewayLogger } from '../core/logger.ts';
import type { Principal } from '../core/principal.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { Route } from '../http/route.ts';
import type { AuthContext } from '../identity/authenticator.ts';
import type { ExchangeGuard } from '../proxy/guard.ts';
import { mcpPinRepoFor } from '../store/mcp-pin-repo.ts';
import type { Store } from '../store/ports.ts';
import { mcpAdminRoutes } from './admin-routes.ts';
import { sealClaims } from '../audit/claims-snapshot.ts';
import { mcpAudience } from './audience.ts';
import { CatalogueGuard } from './catalogue.ts';
import { AggregateFront } from './aggregate.ts';
import type { McpCorrelation } from './correlate.ts';
import { metadataPath, resourceMetadataPath, type McpDeps } from './http.ts';
import { InternalFront } from './internal.ts';
import { handlePost } from './post.ts';
import { PendingRequests } from './pending.ts';
import { SessionBinder } from './protocol.ts';
import { SessionlessUpstreams } from './sessionless.ts';
import { ServerRequestLedger } from './server-requests.ts';
import { RoundTripEnvelopes } from './round-trip-envelope.ts';
import { handleStreamOrDelete } from './stream.ts';
import type { TokenScope } from './tokens.ts';
import { startUpstreams } from './upstream.ts';
import type { UpstreamCredentialRefused } from '../proxy/pipeline.ts';

export interface McpFront {
  /** `/mcp/<server>` (POST, GET, DELETE) and its protected resource metadata. */
  routes: Route[];
  /** `/admin/v1/mcp/...`, to be wrapped by the admin activity recorder. */
  adminRoutes(authenticate: Authenticate): Route[];
  close(): Promise<void>;
}

export interface McpFrontOptions {
  config: Config;
  store: Store;
  keyring: Keyring;
  clock: Clock;
  logger: GatewayLogger;
  baseDir: string;
  env: NodeJS.ProcessEnv;
  recorder: ExchangeRecorder;
  authenticate: (credential: string | undefined, ctx: AuthContext) => Promise<Principal>;
  guard: () => ExchangeGuard;
  publicUrl: () => string;
  /** Holds tool calls a `require_approval` MCP rule matches (the approvals module's gate). */
  approvals?: ApprovalGate | undefined;
  /** The approval an alert rule requires of every tool call of this identity (docs/alerts.md#automatic-response-suspension-or-approval). */
  alertApproval?: ((subject: string) => ApprovalRequirement | undefined) | undefined;
  /** Per-tool budgets and rate limits (the budgets module's enforcer). */
  budgets?: BudgetEnforcer | undefined;
  /** The index the recorder notes model tool calls in (src/mcp/correlate.ts `mcpCorrelationFor`). */
  correlation?: McpCorrelation | undefined;
  /** An upstream MCP server refused the gateway's credential: alert the operator (src/proxy/credential-alert.ts). */
  onUpstreamCredentialRefused?: ((e: UpstreamCredentialRefused) => void) | undefined;
}

/**
 * The MCP front (docs/mcp.md): the configured servers behind the gateway's identity, policy, detectors, pins and
 * recorder — the same modules the LLM endpoints use, wired here, never copied.
 */
export async function startMcpFront(o: McpFrontOptions): Promise<McpFront> {
  const cfg = o.config.mcp;
  const upstreams = await startUpstreams({ servers: cfg.servers, credentials: o.store.credentials, keyring: o.keyring, baseDir: o.baseDir, env: o.env, logger: o.logger, now: () => o.clock.now() });
  for (const s of cfg.servers) {
    if (s.credential === 'store') {
      const stored = await o.store.credentials.get(`mcp:${s.name}`);
      if (!stored) o.logger.warn({ event: 'mcp_credential_missing', provider: `mcp:${s.name}` }, 'no stored credential yet; set one with PUT /admin/v1/mcp/servers/<name>/credential');
    }
  }
  const pins = mcpPinRepoFor(o.store);
  const catalogue = new CatalogueGuard({ repo: pins, now: () => o.clock.now(), cacheMs: cfg.pin_cache_ms });
  const audience = mcpAudience(cfg, o.publicUrl);
  const deps: McpDeps = {
    clock: o.clock, logger: o.logger, recorder: o.recorder, authenticate: o.authenticate, guard: o.guard, upstreams,
    sessions: new SessionBinder(o.keyring.key('mcp')), sessionless: new SessionlessUpstreams(), catalogue, publicUrl: o.publicUrl, pending: new PendingRequests(), approvals: o.approvals, alertApproval: o.alertApproval, budgets: o.budgets,
    correlation: o.correlation, audience, sealClaims: (id, claims) => sealClaims(o.keyring, id, claims), tokenScope: tokenScopeOf(cfg), serverRequests: new ServerRequestLedger(),
    roundTrips: new RoundTripEnvelopes(o.keyring),
    onUpstreamCredentialRefused: o.onUpstreamCredentialRefused,
    limits: { maxBodyBytes: cfg.max_body_bytes, bodyTimeoutMs: o.config.server.request_body_timeout_ms, trustProxy: o.config.server.trust_proxy, maxResponseBytes: cfg.max_response_bytes },
  };
  // The aggregated endpoint calls the per-server fronts as the caller, on a loopback listener only it can use; the
  // caller's token was issued for the aggregated resource, so that is the audience the fronts check there.
  const aggregatePath = cfg.aggregate?.path;
  const internal = aggregatePath ? await InternalFront.start({ ...deps, audience: { ...audience, bindingFor: () => audience.bindingFor(aggregatePath) } }) : undefined;
  // RFC 9728 §2: `resource` is the audience tokens for this endpoint must carry (src/mcp/audience.ts).
  // `scopes_supported` includes the scopes the endpoint requires, so a client that selects its scopes from it (MCP
  // authorization §Scope Selection Strategy) asks for them; the aggregated endpoint's also lists its members'.
  const protectedResource = (path: string, required: readonly string[]): Record<string, unknown> => {
    const scopes = [...new Set([...cfg.scopes_supported, ...required])];
    return {
      resource: audience.resourceUri(path), authorization_servers: cfg.authorization_servers, bearer_methods_supported: ['header'],
      ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
    };
  };
  const aggregate = cfg.aggregate && internal ? new AggregateFront(deps, cfg.aggregate, cfg.servers.map((s) => s.name), internal) : undefined;
  const aggregateRoutes: Route[] = aggregate && cfg.aggregate
    ? [
      ...(['POST', 'GET', 'DELETE'] as const).map((method): Route => ({ method, path: cfg.aggregate!.path, handler: (req, res) => aggregate.handle(req, res) })),
      {
        method: 'GET', path: resourceMetadataPath(cfg.aggregate.path),
        async handler(_req, res) {
          sendMetadata(res, 200, {
            ...protectedResource(cfg.aggregate!.path, [...audience.scopesFor(), ...aggregate.servers.flatMap((m) => audience.scopesFor(m))]), resource_name: 'Portcullis MCP servers (aggregated)', resource_documentation: 'https://portcullis.dev/docs/mcp',
          });
        },
      },
    ]
    : [];
  const data = (method: Route['method']): Route => ({
    method, path: '/mcp/:server',
    handler: (req, res, p) => (method === 'POST' ? handlePost(deps, p.server!, req, res) : handleStreamOrDelete(deps, p.server!, req, res)),
  });
  const metadata: Route = {
    method: 'GET', path: metadataPath(':server'),
    // RFC 9728 §2-3: what a client that discovers authorization needs; public, like any well-known document.
    async handler(_req, res, p) {
      const server = p.server!;
      if (!upstreams.has(server)) return sendMetadata(res, 404, { error: { code: 'not_found', message: 'No such MCP server.' } });
      sendMetadata(res, 200, {
        ...protectedResource(`/mcp/${server}`, audience.scopesFor(server)),
        resource_name: `Portcullis MCP server ${server}`,
        resource_documentation: 'https://portcullis.dev/docs/mcp',
      });
    },
  };
  return {
    // The aggregated routes first: its path may look like /mcp/<name> (the config refuses a server of that name).
    routes: cfg.servers.length > 0 ? [...aggregateRoutes, data('POST'), data('GET'), data('DELETE'), metadata] : [],
    adminRoutes: (authenticate) => mcpAdminRoutes({ authenticate, pins, catalogue, upstreams, credentials: o.store.credentials, keyring: o.keyring, clock: o.clock }),
    close: async () => {
      await aggregate?.close();
      await internal?.close();
      await Promise.all([...upstreams.values()].map((u) => u.close()));
    },
  };
}

/** `mcp.tokenize_scope` and each server's `token_domain` (its own name unless shared), docs/mcp.md#tokenization. */
function tokenScopeOf(cfg: Config['mcp']): TokenScope {
  const domains = new Map(cfg.servers.map((s) => [s.name, s.token_domain ?? s.name]));
  return { scope: cfg.tokenize_scope, domainOf: (server) => domains.get(server) ?? server };
}

function sendMetadata(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' });
  res.end(JSON.stringify(body));
}
