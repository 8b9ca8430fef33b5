import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { GatewayError, toGatewayError } from '../core/errors.ts';
import { parseJsonExact } from '../core/json-exact.ts';
import { errorName } from '../core/logger.ts';
import type { ExchangeRecording } from '../audit/recorder.ts';
import type { ExchangeStatus, ExchangeTimings, ExchangeUsage } from '../store/ports.ts';
import type { ExchangeContext } from './context.ts';
import type { ExchangeGuard } from './guard.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { startRecordOf, type PipelineDeps } from './pipeline.ts';
import { emptyUsage, type Protocol } from './protocols/types.ts';
import { SHUTDOWN } from './drain.ts';
import { sendError } from './respond.ts';
import { pipeStream } from './stream.ts';
import { needsUsageProbe, withUsageRequested, withUsageRequestedBytes } from './usage-probe.ts';
import { callUpstream, mapUpstreamError } from './upstream.ts';

export interface ForwardArgs {
  deps: PipelineDeps;
  ctx: ExchangeContext;
  guard: ExchangeGuard;
  protocol: Protocol;
  req: IncomingMessage;
  res: ServerResponse;
  raw: Buffer;
  mono0: number;
}

/** What the response phase learned, for the record. */
export interface Outcome {
  status: Exclude<ExchangeStatus, 'in_progress'>;
  httpStatus: number | null;
  errorCode: string | null;
  usage: ExchangeUsage;
  timings: ExchangeTimings;
  responseBody: Buffer | undefined;
  /** A non-streamed answer's JSON document as the client received it, parsed once here (the recorder reads its tool calls). */
  responseJson?: unknown;
  /** Set the moment the upstream call is made: until then nothing was sent to the provider. */
  forwarded: boolean;
}

const MAX_JSON_RESPONSE = 64 * 1024 * 1024;

/**
 * Records the start durably (fail closed), calls the upstream and answers the client. From the moment the start
 * is recorded, this function owns the exchange: it never throws, and every ending is recorded. Resolves, once the
 * finish is recorded, to the ms from the exchange's start until the client had its answer.
 */
export async function forwardExchange(a: ForwardArgs): Promise<number> {
  const { deps, ctx, res } = a;
  let upstreamObj = ctx.upstreamBody ?? (ctx.route.upstreamModel !== ctx.model ? { ...ctx.body, model: ctx.route.upstreamModel } : undefined);
  const hideUsageChunk = needsUsageProbe(ctx, deps.providers.get(ctx.route.provider)?.type);
  // The usage probe alone edits the client's bytes; any other change serializes the body it changed.
  const probed = hideUsageChunk && !upstreamObj ? withUsageRequestedBytes(a.raw, ctx.body) : undefined;
  if (hideUsageChunk && !probed) upstreamObj = withUsageRequested(upstreamObj ?? ctx.body);
  const upstreamBody = probed ?? (upstreamObj ? Buffer.from(JSON.stringify(upstreamObj)) : a.raw);
  let recording: ExchangeRecording;
  try {
    recording = await deps.recorder.begin(
      startRecordOf({ id: ctx.id, endpoint: ctx.endpoint, principal: ctx.principal, req: a.req, ip: ctx.clientIp, ctx, deps }),
      { client: a.raw, upstream: upstreamBody !== a.raw ? upstreamBody : undefined },
    );
  } catch (err) {
    deps.logger.error({ event: 'record_start_failed', exchange_id: ctx.id, error_name: errorName(err) });
    throw new GatewayError('recording_failed', 'The exchange could not be recorded, so it was not forwarded.', { cause: err });
  }
  const out: Outcome = {
    status: 'completed', httpStatus: null, errorCode: null, usage: emptyUsage(),
    timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: null }, responseBody: undefined, forwarded: false,
  };
  const abort = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) abort.abort();
  };
  res.on('close', onClose);
  const forgetCut = deps.shutdown?.onCut(() => abort.abort(SHUTDOWN));
  try {
    await respond({ ...a, upstreamBody, recording, abort, out, hideUsageChunk });
  } catch (err) {
    settleFailure({ a, err, abort, out });
  } finally {
    res.off('close', onClose);
    forgetCut?.();
    out.timings.totalMs = deps.clock.mono() - a.mono0;
    await recording.finish(
      {
        finishedAt: deps.clock.now(), status: out.status, httpStatus: out.httpStatus, errorCode: out.errorCode, timings: out.timings, usage: out.usage,
        responseFindings: ctx.responseFindings.map((f) => ({ ...f })), forwarded: out.forwarded,
      },
      out.responseBody,
      out.responseJson,
    ).catch((err: unknown) => deps.logger.error({ event: 'record_finish_failed', exchange_id: ctx.id, error_name: errorName(err) }));
  }
  return out.timings.totalMs;
}

interface RespondArgs extends ForwardArgs {
  upstreamBody: Buffer;
  /** The gateway asked for stream usage the client did not ask for: keep that chunk from the client. */
  hideUsageChunk: boolean;
  recording: ExchangeRecording;
  abort: AbortController;
  out: Outcome;
}

async function respond(r: RespondArgs): Promise<void> {
  const { deps, ctx, out } = r;
  const provider = deps.providers.get(ctx.route.provider);
  if (!provider) throw new GatewayError('internal', `route names missing provider ${ctx.route.provider}`);
  out.forwarded = true;
  const up = await callUpstream({
    provider,
    endpoint: ctx.endpoint,
    upstreamModel: ctx.route.upstreamModel,
    headers: upstreamRequestHeaders(r.req.headers, {}, r.upstreamBody.length),
    body: r.upstreamBody,
    signal: r.abort.signal,
  });
  out.timings.upstreamFirstByteMs = deps.clock.mono() - r.mono0;
  deps.metrics.upstreamFirstByte.observe({ provider: provider.name }, out.timings.upstreamFirstByteMs / 1000);
  out.httpStatus = up.statusCode;
  const contentType = String(up.headers['content-type'] ?? '');
  if (up.statusCode === 401 || up.statusCode === 403) return credentialRefused(r, up, provider.name);
  if (up.statusCode >= 400) return passThroughError(r, up);
  if (ctx.stream && contentType.startsWith('text/event-stream')) {
    deps.metrics.streamsOpen.inc();
    try {
      return await pipeStream({ ...r, up, transformer: r.guard.responseTransformer(ctx) });
    } finally {
      deps.metrics.streamsOpen.dec();
    }
  }
  return respondJson(r, up, contentType);
}

/** Upstream errors pass through faithfully: status, headers and body as the provider sent them. */
async function passThroughError(r: RespondArgs, up: Dispatcher.ResponseData): Promise<void> {
  const body = await readAll(up.body, MAX_JSON_RESPONSE, r.ctx.endpoint.id);
  r.out.status = 'upstream_error';
  r.out.errorCode = `upstream_status_${up.statusCode}`;
  r.out.responseBody = body;
  writeWhole(r, up, body);
}

/**
 * A provider answering 401/403 refused the gateway's provider credential (a bad, revoked or under-privileged key in
 * the gateway's configuration): the operator's problem, not the caller's key. The caller gets 502
 * `upstream_auth_failed` in its protocol; the provider's body is discarded unread, never forwarded nor recorded
 * (providers echo parts of the key in it); the operator is alerted (`deps.onUpstreamCredentialRefused`).
 */
async function credentialRefused(r: RespondArgs, up: Dispatcher.ResponseData, provider: string): Promise<void> {
  await up.body.dump({ limit: MAX_JSON_RESPONSE }).catch(() => undefined);
  r.deps.onUpstreamCredentialRefused?.({ provider, status: up.statusCode, exchangeId: r.ctx.id });
  const err = new GatewayError('upstream_auth_failed', `Provider "${provider}" refused the gateway's credential (HTTP ${up.statusCode}); this is not about your Portcullis key, the operator has been alerted.`, {
    details: { provider_status: up.statusCode },
    // Retrying cannot help until the operator fixes the key; the OpenAI and Anthropic SDKs honour this header.
    headers: { 'x-should-retry': 'false' },
  });
  r.out.status = 'upstream_error';
  r.out.errorCode = err.code;
  r.out.httpStatus = err.status;
  r.out.timings.clientFirstByteMs = r.deps.clock.mono() - r.mono0;
  r.deps.metrics.errors.inc({ code: err.code });
  sendError(r.res, r.protocol, r.ctx.endpoint.id, err);
}

/**
 * A non-streamed answer must be what the endpoint promises, a JSON document in UTF-8 (RFC 8259 §8.1), before it
 * counts as a success: a truncated or garbage body, or another content type, is 502 `upstream_protocol_error`,
 * recorded as failed — never a 200 `completed` (docs/api.md#errors).
 */
async function respondJson(r: RespondArgs, up: Dispatcher.ResponseData, contentType: string): Promise<void> {
  const raw = await readAll(up.body, MAX_JSON_RESPONSE, r.ctx.endpoint.id);
  if (!JSON_TYPE.test(contentType)) throw new GatewayError('upstream_protocol_error', 'The provider answered with an unexpected content type.');
  const transformer = r.guard.responseTransformer(r.ctx);
  // Parsed exactly only when it may be rewritten: an answer passed on as received keeps its bytes anyway.
  const parsed = parseUpstreamJson(raw, transformer !== undefined);
  r.out.usage = r.protocol.usageFromJson(r.ctx.endpoint.id, parsed);
  const changed = transformer ? transformer.json(parsed) : undefined;
  const body = changed === undefined ? raw : Buffer.from(JSON.stringify(changed));
  r.out.responseBody = body;
  r.out.responseJson = changed ?? parsed;
  writeWhole(r, up, body);
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function parseUpstreamJson(raw: Buffer, exact: boolean): unknown {
  if (!isUtf8(raw)) throw new GatewayError('upstream_protocol_error', 'The provider sent a response that is not valid UTF-8.');
  try {
    return exact ? parseJsonExact(raw.toString('utf8')) : JSON.parse(raw.toString('utf8'));
  } catch {
    throw new GatewayError('upstream_protocol_error', 'The provider sent a malformed JSON response.');
  }
}

function writeWhole(r: RespondArgs, up: Dispatcher.ResponseData, body: Buffer): void {
  r.out.timings.clientFirstByteMs = r.deps.clock.mono() - r.mono0;
  r.res.writeHead(up.statusCode, { ...clientResponseHeaders(up.headers), 'content-length': body.length });
  r.res.end(body);
}

async function readAll(body: Dispatcher.ResponseData['body'], limit: number, endpoint: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const chunk = c as Buffer;
    size += chunk.length;
    if (size > limit) throw new GatewayError('upstream_protocol_error', `The provider's ${endpoint} response exceeds ${limit} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Ends a failed exchange in the caller's protocol and notes how it ended. */
function settleFailure(s: { a: ForwardArgs; err: unknown; abort: AbortController; out: Outcome }): void {
  const { a, out } = s;
  if (s.abort.signal.reason === SHUTDOWN) {
    // Not a client abort: the replica is going away and the grace is over. The client gets its protocol's error.
    out.status = a.res.headersSent ? 'incomplete' : 'failed';
    out.errorCode = 'gateway_shutdown';
    const cut = new GatewayError('overloaded', 'The gateway replica shut down before the answer was complete. Retry the request.', { headers: { 'retry-after': '1', connection: 'close' } });
    if (!a.res.headersSent) out.httpStatus = cut.status;
    return sendError(a.res, a.protocol, a.ctx.endpoint.id, cut);
  }
  if (s.abort.signal.aborted && !a.res.writableFinished) {
    out.status = 'client_aborted';
    out.errorCode = 'client_closed';
    return;
  }
  const gErr = s.err instanceof GatewayError ? s.err : isTransport(s.err) ? mapUpstreamError(s.err, a.ctx.route.provider) : toGatewayError(s.err);
  if (gErr.code === 'internal') a.deps.logger.error({ event: 'exchange_internal_error', exchange_id: a.ctx.id, error_name: errorName(s.err) });
  a.deps.metrics.errors.inc({ code: gErr.code });
  out.status = a.res.headersSent ? 'incomplete' : 'failed';
  out.errorCode = gErr.code;
  if (!a.res.headersSent) out.httpStatus = a.protocol.statusOf(gErr);
  sendError(a.res, a.protocol, a.ctx.endpoint.id, gErr);
}

function isTransport(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('UND_ERR') || code.startsWith('E'));
}

