import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApprovalGate } from '../approvals/gate.ts';
import type { ApprovalRequirement } from '../approvals/rule.ts';
import type { BudgetEnforcer } from '../policy/budgets/index.ts';
import type { ExchangeRecorder, StartRecord } from '../audit/recorder.ts';
import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import type { GatewayLogger } from '../core/logger.ts';
import type { Principal } from '../core/principal.ts';
import type { AuthContext } from '../identity/authenticator.ts';
import { clientIp } from '../core/client-ip.ts';
import type { ExchangeGuard } from '../proxy/guard.ts';
import { presentedCredential } from '../proxy/headers.ts';
import type { CatalogueGuard } from './catalogue.ts';
import type { PendingRequests } from './pending.ts';
import { refusal, type JsonRpcId, type RefusalCode } from './jsonrpc.ts';
import type { SessionBinder } from './protocol.ts';
import type { SessionlessUpstreams } from './sessionless.ts';
import type { McpUpstream } from './upstream.ts';
import type { McpCorrelation } from './correlate.ts';
import type { McpAudience } from './audience.ts';
import type { RecordedClaims } from '../audit/claims-snapshot.ts';
import type { ServerRequestLedger } from './server-requests.ts';
import type { RoundTripEnvelopes } from './round-trip-envelope.ts';
import type { TokenScope } from './tokens.ts';
import type { UpstreamCredentialRefused } from '../proxy/pipeline.ts';

export interface McpDeps {
  clock: Clock;
  logger: GatewayLogger;
  recorder: ExchangeRecorder;
  authenticate: (credential: string | undefined, ctx: AuthContext) => Promise<Principal>;
  /** The current guard; its policy version decides MCP calls too (read once per request). */
  guard: () => ExchangeGuard;
  upstreams: ReadonlyMap<string, McpUpstream>;
  sessions: SessionBinder;
  /** The upstream side of 2026-07-28 (sessionless) callers: each server's era, gateway-held sessions (sessionless.ts). */
  sessionless: SessionlessUpstreams;
  catalogue: CatalogueGuard;
  pending: PendingRequests;
  /** The approvals gate (src/approvals): holds `require_approval` tool calls for a reviewer. */
  approvals: ApprovalGate | undefined;
  /** The approval an alert rule requires of every tool call of this identity (src/alerts/suspensions.ts), or undefined. */
  alertApproval?: ((subject: string) => ApprovalRequirement | undefined) | undefined;
  /** The budgets of the active policy version (src/policy/budgets): per-tool rate limits. */
  budgets: BudgetEnforcer | undefined;
  limits: { maxBodyBytes: number; bodyTimeoutMs: number; trustProxy: boolean; maxResponseBytes: number };
  publicUrl: () => string;
  /** The sealed snapshot of the caller's claims for a record's decision (src/audit/claims-snapshot.ts), for `policy simulate`. */
  sealClaims: (exchangeId: string, claims: Principal['claims']) => RecordedClaims | undefined;
  /** Which JWT audiences each endpoint accepts (src/mcp/audience.ts). */
  audience: McpAudience;
  /** Links a tool call to the model answer that asked for it (src/mcp/correlate.ts); undefined: not linked. */
  correlation?: McpCorrelation | undefined;
  /** Who may restore an MCP placeholder (`mcp.tokenize_scope`, tokens.ts); undefined: the MCP session only. */
  tokenScope?: TokenScope | undefined;
  /** Sampling/elicitation requests relayed to agents, whose answers are scanned on the way back (server-requests.ts). */
  serverRequests?: ServerRequestLedger | undefined;
  /** Seals what an `input_required` result relayed to a 2026-07-28 caller, for its retry on any replica (input-responses.ts). */
  roundTrips: RoundTripEnvelopes;
  /** The upstream refused the gateway's credential (401/403): the operator's alert (a security event). */
  onUpstreamCredentialRefused?: ((e: UpstreamCredentialRefused) => void) | undefined;
}

/** RFC 9728 §3: the metadata of the resource at `/mcp/<server>` lives at this path on the same origin. */
export const metadataPath = (server: string): string => resourceMetadataPath(`/mcp/${server}`);

/** RFC 9728 §3.1: the well-known prefix goes before the resource's path. */
export const resourceMetadataPath = (resourcePath: string): string => `/.well-known/oauth-protected-resource${resourcePath}`;

export function sendRpc(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function refuse(res: ServerResponse, status: number, id: JsonRpcId | null, code: RefusalCode, message: string, headers?: Record<string, string>): void {
  sendRpc(res, status, refusal(id, code, message), headers);
}

/**
 * Every MCP call authenticates like an LLM call (Portcullis key, login token, workload token), and a JWT must have
 * been issued for this endpoint (src/mcp/audience.ts) and grant the scopes it requires. A refusal is a 401 with
 * `WWW-Authenticate: Bearer resource_metadata=…` (MCP authorization §2.3.1, RFC 9728 §5.1) so a client that discovers
 * authorization finds where; the message says what to send, never why a token failed in detail — except a wrong
 * audience, which an honest client fixes by asking its authorization server for a token with this `resource` (RFC
 * 8707 §2), and missing scopes, a 403 `insufficient_scope` naming them (RFC 6750 §3.1; MCP authorization §Scope
 * Challenge Handling), which it fixes by asking for them (step-up authorization).
 */
export async function authenticateMcp(d: McpDeps, server: string | { resourcePath: string }, req: IncomingMessage, res: ServerResponse): Promise<Principal | undefined> {
  const credential = presentedCredential(req.headers);
  const named = typeof server === 'string' ? server : undefined;
  const resourcePath = typeof server === 'string' ? `/mcp/${server}` : server.resourcePath;
  const audience = d.audience.bindingFor(resourcePath, named);
  const scopes = d.audience.scopesFor(named);
  try {
    return await d.authenticate(credential, { sourceIp: clientIp(req, d.limits.trustProxy), userAgent: req.headers['user-agent'], audience, scopes });
  } catch (err) {
    const metadata = `${d.publicUrl()}${resourceMetadataPath(resourcePath)}`;
    if (err instanceof GatewayError && err.details?.reason === 'insufficient_scope') {
      const wanted = scopes.join(' ');
      refuse(res, 403, null, 'insufficient_scope', `This token lacks a scope this MCP server requires: request a token with the scopes "${wanted}" (RFC 6750 §3.1).`, {
        'www-authenticate': bearerChallenge({ error: 'insufficient_scope', scopes, metadata }),
      });
      return undefined;
    }
    if (!(err instanceof GatewayError) || (err.status !== 401 && err.status !== 429)) throw err;
    const wrongAudience = err.details?.reason === 'wrong_audience';
    // RFC 6750 §3: error="invalid_token" when a token was presented and refused.
    const headers: Record<string, string> = { 'www-authenticate': bearerChallenge({ error: credential ? 'invalid_token' : undefined, scopes, metadata }), ...(err.headers ?? {}) };
    const message = err.status === 429 ? err.publicMessage
      : wrongAudience ? `This token was not issued for this MCP server: request one for the resource ${d.audience.resourceUri(resourcePath)} (RFC 8707).`
        : 'Send a Portcullis key, login token or workload token as a Bearer token.';
    refuse(res, err.status, null, 'unauthenticated', message, headers);
    return undefined;
  }
}

/**
 * RFC 6750 §3 challenge. `scope` names every scope the endpoint requires (MCP authorization: a server SHOULD put it
 * in the 401 for the client's scope selection, and in the 403 "the scopes needed to satisfy the current request");
 * scope tokens cannot contain `"` or `\` (RFC 6749 §3.3, enforced by the config schema), so quoting is safe.
 */
function bearerChallenge(o: { error: string | undefined; scopes: readonly string[]; metadata: string }): string {
  const params = [
    ...(o.error ? [`error="${o.error}"`] : []),
    ...(o.scopes.length > 0 ? [`scope="${o.scopes.join(' ')}"`] : []),
    `resource_metadata="${o.metadata}"`,
  ];
  return `Bearer ${params.join(', ')}`;
}

/** The exchange record of one JSON-RPC request (the shape `exchanges list/show`, sessions and SIEM events read). */
export function startRecordOf(o: {
  id: string; at: number; principal: Principal; server: string; method: string; tool: string | undefined; req: IncomingMessage;
  trustProxy: boolean; clientSession: string | undefined; decision: StartRecord['decision']; findings: StartRecord['findings'];
  /** The claims the rules read, sealed (src/audit/claims-snapshot.ts): kept in the decision so a simulation sees them. */
  claims?: RecordedClaims | undefined;
}): StartRecord {
  const p = o.principal;
  return {
    id: o.id, startedAt: o.at, subject: p.subject,
    // Keys in sorted order: the audit trail canonicalizes this snapshot.
    principal: { authMethod: p.authMethod, credentialId: p.credentialId, displayName: p.displayName, groups: p.groups, kind: p.kind },
    endpoint: endpointIdOf(o.method), method: 'POST', path: `/mcp/${o.server}`,
    model: o.tool ?? null, provider: `mcp:${o.server}`, upstreamModel: null, stream: false,
    clientIp: clientIp(o.req, o.trustProxy) ?? null, userAgent: o.req.headers['user-agent'] ?? null,
    // `claims` first: the decision's keys stay in canonical order (the audit trail hashes it).
    decision: o.claims && o.decision ? { claims: o.claims, ...o.decision } : o.decision, findings: o.findings,
    sessionHint: o.clientSession ? { key: `mcp:${o.server}:${o.clientSession}`, source: 'mcp-session' } : null,
  };
}

const KNOWN_METHODS = new Set([
  'initialize', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/read', 'resources/templates/list', 'resources/subscribe',
  'resources/unsubscribe', 'prompts/list', 'prompts/get', 'completion/complete', 'logging/setLevel', 'tasks/get', 'tasks/list', 'tasks/result', 'tasks/cancel',
  'server/discover', 'subscriptions/listen',
]);

/** `tools/call` -> `mcp.tools_call`; methods outside the specification are recorded as `mcp.other` (bounded vocabulary). */
export function endpointIdOf(method: string): string {
  return KNOWN_METHODS.has(method) ? `mcp.${method.replace(/\//g, '_')}` : 'mcp.other';
}
