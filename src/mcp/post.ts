import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExchangeRecording, StartRecord } from '../audit/recorder.ts';
import { GatewayError, toGatewayError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { errorName } from '../core/logger.ts';
import type { Principal } from '../core/principal.ts';
import { mcpVersionOf } from '../governance/mcp-version.ts';
import { isUtf8 } from 'node:buffer';
import { readBody } from '../http/body.ts';
import { clientIp } from '../core/client-ip.ts';
import { decideCall, type CallVerdict } from './decide.ts';
import { findModelToolCall, type CorrelationLink } from './correlate.ts';
import { authenticateMcp, refuse, sendRpc, startRecordOf, type McpDeps } from './http.ts';
import { classify, refusal, rpcError, RPC, type JsonRpcId, type McpMessage, type RefusalCode } from './jsonrpc.ts';
import { envelopeVersion, eraOf, unsupportedVersion } from './modern.ts';
import { pendingScope, sendUpstream } from './sessionless-forward.ts';
import { budgetError, MCP_MODEL_PREFIX } from '../policy/budgets/index.ts';
import { batchRefusal, protocolVersionOf } from './protocol.ts';
import { holdForApproval } from './hold.ts';
import { answerError, refreshCatalogue, relayAnswer, type Exchange } from './relay.ts';
import { governServerRequestAnswer } from './server-requests.ts';
import { NO_ROUND_TRIP, recordAnswers, roundTripOf, takeInputResponses, withInputResponses, type AnswerOutcome } from './input-responses.ts';
import { formatSse } from './sse.ts';
import { TOKENIZED_METHODS } from './request-content.ts';
import { exchangeConversation, McpTokens } from './tokens.ts';
import { parseJsonExact } from '../core/json-exact.ts';
import { hasControlCharacters } from '../core/text.ts';

type Inbound = Extract<McpMessage, { kind: 'request' | 'notification' }>;

/**
 * POST /mcp/<server>: one JSON-RPC message from the client (Streamable HTTP). In order: authenticate → protocol
 * version and session checks → parse (a batch is refused per the revision) → pin check of a called tool →
 * detectors on its arguments → `mcp:` policy → record (durable before anything goes upstream: fail closed) →
 * upstream with the gateway's credential → the answer (JSON or SSE) through the same controls → record the end.
 * Refusals of requests are JSON-RPC errors with HTTP 200, so clients show the reason; transport errors keep the
 * HTTP status the specification gives them.
 */
export async function handlePost(d: McpDeps, server: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const mono0 = d.clock.mono();
  const principal = await authenticateMcp(d, server, req, res);
  if (!principal) return;
  const upstream = d.upstreams.get(server);
  if (!upstream) return refuse(res, 404, null, 'unknown_server', `No MCP server "${server}" on this gateway.`);
  const pv = protocolVersionOf(req.headers['mcp-protocol-version']);
  if ('invalid' in pv) return sendProtocolError(res, null, unsupportedVersion(pv.invalid));
  const session = sessionOf(d, req, principal, server);
  if (session === 'invalid') return refuse(res, 404, null, 'session_not_found', 'Session not found; initialize a new session.');
  let raw: Buffer;
  try {
    raw = await readBody(req, { limit: d.limits.maxBodyBytes, timeoutMs: d.limits.bodyTimeoutMs });
  } catch (err) {
    const g = toGatewayError(err);
    return refuse(res, g.status, null, g.code === 'body_too_large' ? 'body_too_large' : 'request_timeout', g.publicMessage);
  }
  let parsed: unknown;
  // Invalid UTF-8 is refused, never repaired: the scanners, the record and the MCP server must read the same text.
  if (!isUtf8(raw)) return sendRpc(res, 400, rpcError(null, RPC.parseError, 'The body is not valid UTF-8 (JSON must be UTF-8, RFC 8259 §8.1).'));
  try {
    parsed = parseJsonExact(raw.toString('utf8'));
  } catch {
    return sendRpc(res, 400, rpcError(null, RPC.parseError, 'The body is not valid JSON.'));
  }
  if (Array.isArray(parsed)) return refuse(res, 400, null, 'batch_not_allowed', batchRefusal(batchVersion(parsed) ?? pv.version));
  const msg = classify(parsed);
  if (!msg) return refuse(res, 400, null, 'invalid_message', 'The body is not a JSON-RPC 2.0 message.');
  const era = msg.kind === 'response' ? { era: 'legacy' as const } : eraOf(req.headers, msg);
  if ('reject' in era) return sendProtocolError(res, msg.kind === 'request' ? msg.id : null, era.reject);
  if (era.era === 'modern' && session.client !== undefined) {
    return refuse(res, 400, msg.kind === 'request' ? msg.id : null, 'invalid_message', `MCP revision ${era.version} has no sessions; send the request without Mcp-Session-Id.`);
  }
  const ex: Exchange = {
    id: newId('ex'), server, principal, upstream, req, res, mono0, clientSession: session.client, upstreamSession: session.upstream,
    version: 'open', method: msg.kind === 'response' ? '' : msg.method, rpcId: msg.kind === 'request' ? msg.id : null,
    ...(era.era === 'modern' ? { modern: { version: era.version } } : {}),
    ...(msg.kind === 'request' ? { roundTrip: roundTripOf(msg.method, msg.params) } : {}),
  };
  res.setHeader('x-portcullis-exchange-id', ex.id);
  if (msg.kind === 'response') {
    // An answer to a sampling/elicitation request goes through the detectors first (server-requests.ts).
    const body = await governServerRequestAnswer(d, ex, msg, raw);
    return body ? forwardUnrecorded(d, ex, body) : undefined;
  }
  const version = mcpVersionOf(d.guard());
  if (version === 'unavailable') {
    return msg.kind === 'request'
      ? sendRpc(res, 200, refusal(msg.id, 'policy_unavailable', 'The active policy version cannot be evaluated; MCP calls are refused until an administrator activates a valid version.'))
      : refuse(res, 503, null, 'policy_unavailable', 'The active policy version cannot be evaluated.');
  }
  ex.version = version;
  await governed(d, ex, msg, raw);
}

async function governed(d: McpDeps, ex: Exchange, msg: Inbound, raw: Buffer): Promise<void> {
  const version = ex.version;
  const tool = msg.method === 'tools/call' && typeof msg.params?.name === 'string' ? msg.params.name : undefined;
  const args = msg.params?.arguments;
  if (msg.method === 'tools/call' && (tool === undefined || (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))))) {
    // Arguments the gateway cannot read as an object are never forwarded unread (fail closed).
    const why = tool === undefined ? '`params.name` must be the tool name.' : '`params.arguments` must be an object.';
    return msg.kind === 'request' ? sendRpc(ex.res, 200, rpcError(msg.id, RPC.invalidParams, why)) : refuse(ex.res, 400, null, 'invalid_message', why);
  }
  // Names the gateway decides on — the method, a tool, a prompt, a resource URI — must not hide control or invisible
  // formatting characters (src/core/text.ts; the LLM endpoints' model and ids likewise, src/proxy/identifiers.ts).
  const named = [msg.method, tool, msg.method === 'prompts/get' ? msg.params?.name : msg.method === 'resources/read' ? msg.params?.uri : undefined];
  if (named.some((n) => typeof n === 'string' && hasControlCharacters(n))) {
    const why = 'The method, tool, prompt or resource name contains control or invisible formatting characters.';
    return msg.kind === 'request' ? sendRpc(ex.res, 200, rpcError(msg.id, RPC.invalidParams, why)) : refuse(ex.res, 400, null, 'invalid_message', why);
  }
  // Looked up while the call is checked; awaited before the record is written.
  const link = msg.kind === 'request' && tool !== undefined ? correlate(d, ex, tool, args) : undefined;
  // A 2026-07-28 retry: its envelope opened, its answers matched to what it sealed, before any decision (input-responses.ts).
  const responses = takeInputResponses(d, ex, msg);
  const round = 'refusal' in responses ? NO_ROUND_TRIP : responses;
  let verdict: CallVerdict & { answers: AnswerOutcome[] };
  let pins: PinCheck = { hash: null, refusal: undefined };
  try {
    if (tool !== undefined) pins = await checkPins(d, ex, tool);
    const decide = (tokens: McpTokens | undefined): CallVerdict & { answers: AnswerOutcome[] } => withInputResponses(version, decideCall(version, {
      id: ex.id, principal: ex.principal, server: ex.server, message: msg, toolHash: pins.hash,
      clientIp: clientIp(ex.req, d.limits.trustProxy), userAgent: ex.req.headers['user-agent'], now: d.clock.now(), tokens,
    }), msg, round, tokens);
    // Placeholders belong to the caller (never another identity) within `mcp.tokenize_scope` (tokens.ts); what the
    // arguments minted is stored before the call can go out (fail closed).
    if (TOKENIZED_METHODS.has(msg.method) && version !== 'open' && version.content?.tokenizes && version.vault) {
      const conversation = exchangeConversation(d.tokenScope, ex);
      ({ tokens: ex.tokens, result: verdict } = await McpTokens.decide(version.vault, conversation, decide));
    } else verdict = decide(undefined);
  } catch (err) {
    d.logger.error({ event: 'mcp_decision_failed', exchange_id: ex.id, error_name: errorName(err) });
    const g = toGatewayError(err);
    return msg.kind === 'request' ? sendRpc(ex.res, 200, refusal(msg.id, 'policy_unavailable', g.expose ? g.publicMessage : 'The call could not be evaluated; it was refused.')) : refuse(ex.res, 503, null, 'policy_unavailable', 'The call could not be evaluated.');
  }
  if (pins.refusal) verdict.refusal = { code: 'tool_quarantined', message: pins.refusal };
  if ('refusal' in responses) verdict.refusal = responses.refusal;
  const held = verdict.decision.effect === 'require_approval' && verdict.decision.enforced;
  if (msg.kind === 'notification') {
    if (verdict.refusal) return refuse(ex.res, 403, null, verdict.refusal.code, verdict.refusal.message);
    if (held) return refuse(ex.res, 403, null, 'approval_required', 'A notification cannot be held for approval.');
    const out = outgoingOf(verdict, msg, raw);
    return forwardUnrecorded(d, ex, out.body, out.message);
  }
  const start = startRecordOf({
    id: ex.id, at: d.clock.now(), principal: ex.principal, server: ex.server, method: msg.method, tool, req: ex.req,
    trustProxy: d.limits.trustProxy, clientSession: ex.clientSession, decision: withCorrelation(verdict.decision, await link), findings: verdict.findings,
    claims: d.sealClaims(ex.id, ex.principal.claims),
  });
  // An identity an alert rule responded to needs an approval for every call the policy lets through.
  const alertRequirement = !verdict.refusal && tool !== undefined ? d.alertApproval?.(ex.principal.subject) : undefined;
  if (!verdict.refusal && tool !== undefined && ((held && version !== 'open') || alertRequirement)) {
    const hold = await holdForApproval({
      gate: d.approvals, ex, version, verdict, id: msg.id, tool, now: d.clock.now(), alertRequirement, policyHeld: held,
      progressToken: (msg.params?._meta as { progressToken?: unknown } | undefined)?.progressToken,
    });
    if (!hold.approved) {
      // A denial is a tool error result the agent can show (MCP tools/call `isError`), not a protocol error.
      const answer = { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: hold.message }], isError: true, _meta: { portcullis: { code: hold.code, exchange_id: ex.id } } } };
      if (ex.streamOpen) ex.res.end(formatSse({ data: JSON.stringify(answer) }));
      else sendRpc(ex.res, 200, answer);
      return recordRefusal(d, ex, start, raw, hold.code);
    }
  }
  if (verdict.refusal) {
    sendRpc(ex.res, 200, refusal(msg.id, verdict.refusal.code, verdict.refusal.message, { exchange_id: ex.id }));
    return recordRefusal(d, ex, start, raw, verdict.refusal.code);
  }
  if (tool !== undefined && verdict.decision.enforced) {
    // Per-tool budgets (budgets.limits[].match.mcp_tools): counted only for a call that will go out.
    const limited = await checkToolBudget(d, ex, tool);
    if (limited) {
      const answer = refusal(msg.id, limited.code, limited.message, { exchange_id: ex.id, ...limited.extra });
      if (ex.streamOpen) ex.res.end(formatSse({ data: JSON.stringify(answer) }));
      else sendRpc(ex.res, 200, answer);
      return recordRefusal(d, ex, start, raw, limited.code);
    }
  }
  const out = outgoingOf(verdict, msg, raw);
  d.pending.add(ex.server, pendingScope(ex), msg.id, msg.method, d.clock.now());
  let recording: ExchangeRecording;
  try {
    recording = await d.recorder.begin(start, { client: raw, upstream: out.body === raw ? undefined : out.body });
  } catch (err) {
    d.logger.error({ event: 'mcp_record_failed', exchange_id: ex.id, error_name: errorName(err) });
    return answerError(ex, 200, 'recording_failed', 'The call could not be recorded, so it was not forwarded.');
  }
  recordAnswers(recording, d.clock.mono() - ex.mono0, verdict.answers);
  await forwardRecorded(d, ex, out.body, recording, out.message);
}

/**
 * What goes to the server: the client's bytes as they came when the call was not rewritten, else its rewrite
 * serialized; with the message those bytes hold (sessionless-forward.ts derives the 2026-07-28 headers from it).
 */
function outgoingOf(verdict: CallVerdict, msg: Inbound, raw: Buffer): { body: Buffer; message: Record<string, unknown> } {
  return verdict.rewritten ? { body: Buffer.from(JSON.stringify(verdict.rewritten)), message: verdict.rewritten } : { body: raw, message: msg.raw };
}

/** The model tool call this call carries out, or undefined (none found, or the lookup failed: logged, never refused). */
async function correlate(d: McpDeps, ex: Exchange, tool: string, args: unknown): Promise<CorrelationLink | undefined> {
  if (!d.correlation) return undefined;
  try {
    return await findModelToolCall(d.correlation, { subject: ex.principal.subject, server: ex.server, tool, args, now: d.clock.now() });
  } catch (err) {
    d.logger.warn({ event: 'mcp_correlation_failed', exchange_id: ex.id, error_name: errorName(err) });
    return undefined;
  }
}

const withCorrelation = (decision: CallVerdict['decision'], link: CorrelationLink | undefined): CallVerdict['decision'] & { correlation?: CorrelationLink } =>
  link ? { correlation: link, ...decision } : decision;

/** A budget that refuses this call, or undefined. A counter that cannot be read refuses too (budgets fail closed). */
async function checkToolBudget(d: McpDeps, ex: Exchange, tool: string): Promise<{ code: RefusalCode; message: string; extra: Record<string, unknown> } | undefined> {
  if (!d.budgets) return undefined;
  try {
    const v = await d.budgets.check(ex.principal, `${MCP_MODEL_PREFIX}${ex.server}/${tool}`);
    if (v.ok) return undefined;
    const g = budgetError(v);
    return { code: 'rate_limited', message: g.publicMessage, extra: { limit_id: v.limitId, ...(v.neverFits ? {} : { retry_after_seconds: v.retryAfterSeconds }) } };
  } catch (err) {
    d.logger.error({ event: 'mcp_budget_check_failed', exchange_id: ex.id, error_name: errorName(err) });
    return { code: 'policy_unavailable', message: 'The budget of this call could not be checked; it was refused.', extra: {} };
  }
}

interface PinCheck {
  hash: string | null;
  refusal: string | undefined;
}

/** The called tool against its pin; a tool not seen yet (or after list_changed) is re-listed first. */
async function checkPins(d: McpDeps, ex: Exchange, tool: string): Promise<PinCheck> {
  let check = await d.catalogue.checkCall(ex.server, tool);
  if (!check.ok && check.why === 'unknown') {
    await refreshCatalogue(d, ex);
    check = await d.catalogue.checkCall(ex.server, tool);
  }
  if (check.ok) return { hash: check.hash, refusal: undefined };
  return {
    hash: null,
    refusal: check.why === 'unknown'
      ? `The MCP server "${ex.server}" does not offer a tool "${tool}".`
      : `The tool "${tool}" changed or is new on MCP server "${ex.server}" and is quarantined until an approver accepts the new catalogue.`,
  };
}

const NO_USAGE = { inputTokens: null, outputTokens: null, totalTokens: null };

async function recordRefusal(d: McpDeps, ex: Exchange, start: StartRecord, raw: Buffer, code: string): Promise<void> {
  const t = d.clock.mono() - ex.mono0;
  await d.recorder.rejected(start, raw, {
    finishedAt: d.clock.now(), status: 'rejected', httpStatus: 200, errorCode: code,
    timings: { upstreamFirstByteMs: null, clientFirstByteMs: t, totalMs: t }, usage: NO_USAGE, responseFindings: [],
  }).catch((err: unknown) => d.logger.error({ event: 'record_refusal_failed', exchange_id: ex.id, error_name: errorName(err) }));
}

/** `sent` is `body` as an object (sessionless-forward.ts derives the 2026-07-28 standard headers from it). */
async function forwardRecorded(d: McpDeps, ex: Exchange, body: Buffer, recording: ExchangeRecording, sent: Record<string, unknown>): Promise<void> {
  const abort = new AbortController();
  ex.res.once('close', () => abort.abort());
  let upstreamMs: number | null = null;
  let outcome: { status: 'completed' | 'upstream_error' | 'client_aborted' | 'incomplete'; httpStatus: number; errorCode: string | null; body?: Buffer; findings: Record<string, unknown>[] };
  try {
    const up = await sendUpstream(d, ex, body, abort.signal, sent);
    upstreamMs = d.clock.mono() - ex.mono0;
    outcome = await relayAnswer(d, ex, up, recording);
  } catch (err) {
    const g = err instanceof GatewayError ? err : toGatewayError(err);
    if (!ex.res.headersSent || ex.streamOpen) answerError(ex, 200, 'upstream_unavailable', g.expose ? g.publicMessage : `MCP server "${ex.server}" failed.`);
    else ex.res.destroy();
    outcome = { status: abort.signal.aborted ? 'client_aborted' : 'upstream_error', httpStatus: 502, errorCode: g.code, findings: [] };
  }
  const total = d.clock.mono() - ex.mono0;
  await recording.finish({
    finishedAt: d.clock.now(), status: outcome.status, httpStatus: outcome.httpStatus, errorCode: outcome.errorCode,
    timings: { upstreamFirstByteMs: upstreamMs, clientFirstByteMs: upstreamMs, totalMs: total }, usage: NO_USAGE, responseFindings: outcome.findings,
    // The call was handed to the MCP server (even if it then failed): the record says it went out.
    forwarded: true,
  }, outcome.body).catch((err: unknown) => d.logger.error({ event: 'record_finish_failed', exchange_id: ex.id, error_name: errorName(err) }));
}

/** Client notifications and client answers to server requests: relayed, not recorded as calls. */
async function forwardUnrecorded(d: McpDeps, ex: Exchange, body: Buffer, sent?: Record<string, unknown>): Promise<void> {
  const abort = new AbortController();
  ex.res.once('close', () => abort.abort());
  try {
    const up = await sendUpstream(d, ex, body, abort.signal, sent);
    await relayAnswer(d, ex, up, undefined);
  } catch (err) {
    if (!ex.res.headersSent) refuse(ex.res, 502, null, 'upstream_unavailable', toGatewayError(err).publicMessage);
  }
}

/** A batch is judged by the revision its elements claim (2026-07-28 forbids batches too), else by the header's. */
function batchVersion(batch: unknown[]): string | undefined {
  for (const e of batch) {
    const m = classify(e);
    const v = m ? envelopeVersion(m) : undefined;
    if (v !== undefined) return v;
  }
  return undefined;
}

/** A transport-level protocol error (HTTP 400): the revision's own code, and the gateway's stable one when it has one. */
function sendProtocolError(res: ServerResponse, id: JsonRpcId | null, e: { status: number; code: number; message: string; data?: Record<string, unknown> }): void {
  sendRpc(res, e.status, rpcError(id, e.code, e.message, e.data ?? { portcullis: { code: 'invalid_message' } }));
}

function sessionOf(d: McpDeps, req: IncomingMessage, p: Principal, server: string): { client: string | undefined; upstream: string | undefined } | 'invalid' {
  const h = req.headers['mcp-session-id'];
  if (h === undefined) return { client: undefined, upstream: undefined };
  if (typeof h !== 'string') return 'invalid';
  const upstream = d.sessions.unwrap(h, p.subject, server);
  return upstream === undefined ? 'invalid' : { client: h, upstream };
}
