import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.ts';
import { GatewayError, StoreUnavailableError, toGatewayError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { Principal } from '../core/principal.ts';
import { SESSION_HEADER, sessionHintOf } from '../audit/observer.ts';
import type { ExchangeRecorder, StartRecord } from '../audit/recorder.ts';
import type { AuthContext } from '../identity/authenticator.ts';
import { readBody } from '../http/body.ts';
import { parseJsonObject } from './body.ts';
import { clientIp } from '../core/client-ip.ts';
import type { ExchangeContext } from './context.ts';
import type { Endpoint } from './endpoints.ts';
import type { ExchangeGuard } from './guard.ts';
import { presentedCredential } from './headers.ts';
import type { GatewayMetrics } from './metrics.ts';
import { protocolFor } from './protocols/index.ts';
import type { ProviderRuntime } from './providers.ts';
import { forwardExchange } from './forward.ts';
import type { RouteTable } from './routes.ts';
import { sendError } from './respond.ts';
import { listModels } from './models.ts';
import type { Drain } from './drain.ts';
import { holdControl } from './hold.ts';
import { checkIdentifierFields, checkIdentifierHeaders } from './identifiers.ts';

export interface PipelineDeps {
  clock: Clock;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  recorder: ExchangeRecorder;
  authenticate(credential: string | undefined, ctx: AuthContext): Promise<Principal>;
  routes: RouteTable;
  providers: ReadonlyMap<string, ProviderRuntime>;
  /** Current guard (policy + content). Read once per exchange: in-flight exchanges keep the one they started with. */
  guard(): ExchangeGuard;
  limits: { maxBodyBytes: number; bodyTimeoutMs: number; trustProxy: boolean };
  /** Cuts the exchanges still running when the shutdown grace ran out (src/proxy/drain.ts). */
  shutdown?: Pick<Drain, 'onCut'>;
  /** A provider answered 401/403: the gateway's provider credential was refused (alert the operator). */
  onUpstreamCredentialRefused?(e: UpstreamCredentialRefused): void;
  /** Refuses a caller right after authentication (an identity suspended by an alert rule, src/alerts/suspensions.ts); recorded like any refusal. */
  admit?(principal: Principal): void;
  /** After the guard allowed a request: holds it for an approval an alert rule requires of the caller (src/alerts/approval-step.ts). */
  approveAfterGuard?(ctx: ExchangeContext): Promise<void>;
}

export interface UpstreamCredentialRefused {
  provider: string;
  status: number;
  exchangeId: string;
}

/**
 * The governed data path, top to bottom:
 *   authenticate -> read + parse body -> resolve route -> guard (policy, detection, approvals)
 *   -> record start (durable; fail closed) -> upstream -> response (JSON or SSE, transformed) -> record finish.
 * Every refusal is an error in the caller's protocol; every refusal after authentication is recorded.
 */
export async function handleProxy(deps: PipelineDeps, endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const mono0 = deps.clock.mono();
  const id = newId('ex');
  res.setHeader('x-portcullis-exchange-id', id);
  const protocol = protocolFor(endpoint.family);
  const ip = clientIp(req, deps.limits.trustProxy);
  const userAgent = req.headers['user-agent'];
  let principal: Principal | undefined;
  let raw: Buffer | undefined;
  let ctx: ExchangeContext | undefined;
  /** ms until the client had its answer (the duration metric); the record may be written after. */
  let answeredMs: number | undefined;
  try {
    principal = await authenticate(deps, presentedCredential(req.headers), { sourceIp: ip, userAgent });
    deps.admit?.(principal);
    if (endpoint.id === 'openai.models') return await listModels({ deps, principal, res, protocol });
    checkIdentifierHeaders(req.headers);
    raw = await readBody(req, { limit: deps.limits.maxBodyBytes, timeoutMs: deps.limits.bodyTimeoutMs });
    const body = parseJsonObject(raw, req.headers['content-type']);
    checkIdentifierFields(body);
    const { model, stream } = readModelAndStream(endpoint, body);
    const route = deps.routes.resolve(model, endpoint.family);
    if (!route) throw new GatewayError('unknown_model', `The model "${truncate(model)}" is not available through this gateway.`);
    ctx = {
      id, startedAt: deps.clock.now(), endpoint, principal, headers: req.headers, clientIp: ip, userAgent, body, model, stream, route,
      upstreamBody: undefined, decision: undefined, findings: [], responseFindings: [], cleanups: [],
    };
    ctx.hold = holdControl(res, stream, ctx.cleanups);
    const guard = deps.guard();
    await guard.inspectRequest(ctx);
    await deps.approveAfterGuard?.(ctx);
    answeredMs = await forwardExchange({ deps, ctx, guard, protocol, req, res, raw, mono0 });
  } catch (err) {
    let gErr = toGatewayError(err);
    if (gErr.code === 'internal') deps.logger.error({ event: 'exchange_internal_error', exchange_id: id, error_name: errorName(err) });
    // A refusal is recorded before it is answered: if the trail cannot take it, the caller learns that instead.
    if (principal) gErr = await recordRefusal({ deps, id, endpoint, principal, req, ip, raw, ctx, err: gErr, httpStatus: protocol.statusOf(gErr), mono0 });
    deps.metrics.errors.inc({ code: gErr.code });
    sendError(res, protocol, endpoint.id, gErr);
    answeredMs = deps.clock.mono() - mono0;
  } finally {
    for (const c of ctx?.cleanups ?? []) c();
    deps.metrics.requests.inc({ endpoint: endpoint.id, status: String(res.statusCode) });
    deps.metrics.duration.observe({ endpoint: endpoint.id }, (answeredMs ?? deps.clock.mono() - mono0) / 1000);
  }
}

function readModelAndStream(endpoint: Endpoint, body: Record<string, unknown>): { model: string; stream: boolean } {
  const model = body.model;
  if (typeof model !== 'string' || model.length === 0) {
    throw new GatewayError('invalid_request', '`model` is required and must be a non-empty string.', { details: { param: 'model' } });
  }
  const stream = body.stream;
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    throw new GatewayError('invalid_request', '`stream` must be a boolean.', { details: { param: 'stream' } });
  }
  return { model, stream: endpoint.streamable && stream === true };
}

function truncate(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

interface RefusalRecord {
  deps: PipelineDeps;
  id: string;
  endpoint: Endpoint;
  principal: Principal;
  req: IncomingMessage;
  ip: string | undefined;
  raw: Buffer | undefined;
  ctx: ExchangeContext | undefined;
  err: GatewayError;
  /** The status the client was sent (per protocol). */
  httpStatus: number;
  mono0: number;
}

/**
 * Records a refused request before it is answered, and returns the error to answer with: the refusal itself, or
 * 503 `recording_failed` when the store could not take it (docs/api.md#errors). Skipped when recording is what
 * failed: the recorder already closed the row it started (src/audit/recorder.ts `begin`).
 */
async function recordRefusal(r: RefusalRecord): Promise<GatewayError> {
  if (r.err.code === 'recording_failed') return r.err;
  try {
    await r.deps.recorder.rejected(startRecordOf(r), r.raw, {
      finishedAt: r.deps.clock.now(),
      status: r.err.status >= 500 ? 'failed' : 'rejected',
      httpStatus: r.httpStatus,
      errorCode: r.err.code,
      timings: { upstreamFirstByteMs: null, clientFirstByteMs: r.deps.clock.mono() - r.mono0, totalMs: r.deps.clock.mono() - r.mono0 },
      usage: { inputTokens: null, outputTokens: null, totalTokens: null },
      responseFindings: [],
    });
    return r.err;
  } catch (err) {
    r.deps.logger.error({ event: 'record_refusal_failed', exchange_id: r.id, error_name: errorName(err) });
    return new GatewayError('recording_failed', 'The refusal of this request could not be recorded.', { cause: err });
  }
}

/**
 * Authentication reads the store (keys, sessions); a store failure there is the gateway's outage, not the caller's
 * bad key and not a bug: 503 `auth_unavailable`, so clients retry later. Refusals (GatewayError) pass unchanged.
 */
async function authenticate(deps: PipelineDeps, credential: string | undefined, ctx: AuthContext): Promise<Principal> {
  try {
    return await deps.authenticate(credential, ctx);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    // An unreachable store (PostgreSQL refused, silent, failing over) is the fleet's documented 503 `store_unavailable`.
    if (err instanceof StoreUnavailableError) throw toGatewayError(err);
    deps.logger.error({ event: 'authentication_unavailable', error_name: errorName(err) });
    throw new GatewayError('auth_unavailable', 'The credential could not be checked right now; the request was not forwarded.', { cause: err });
  }
}

export function startRecordOf(r: { id: string; endpoint: Endpoint; principal: Principal; req: IncomingMessage; ip: string | undefined; ctx: ExchangeContext | undefined; deps: { clock: Clock } }): StartRecord {
  const { ctx, principal } = r;
  return {
    id: r.id,
    startedAt: ctx?.startedAt ?? r.deps.clock.now(),
    subject: principal.subject,
    // Keys in sorted order: the audit trail canonicalizes this snapshot (src/core/canonical-json.ts fast path).
    principal: {
      authMethod: principal.authMethod,
      credentialId: principal.credentialId,
      displayName: principal.displayName,
      groups: principal.groups,
      kind: principal.kind,
    },
    endpoint: r.endpoint.id,
    method: r.req.method ?? 'POST',
    path: r.endpoint.path,
    model: ctx?.model ?? null,
    provider: ctx?.route.provider ?? null,
    upstreamModel: ctx?.route.upstreamModel ?? null,
    stream: ctx?.stream ?? false,
    clientIp: r.ip ?? null,
    userAgent: r.req.headers['user-agent'] ?? null,
    decision: ctx?.decision ?? null,
    findings: (ctx?.findings ?? []).map((f) => ({ ...f })),
    // From the body already parsed: the audit trail never has to decrypt and re-parse it to group sessions.
    sessionHint: ctx ? (sessionHintOf(ctx.body, headerValue(r.req.headers[SESSION_HEADER])) ?? null) : undefined,
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.length <= 256 ? s : undefined;
}

