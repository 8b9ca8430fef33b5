import { once } from 'node:events';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../core/errors.ts';
import { parseJsonExact } from '../core/json-exact.ts';
import type { ForwardArgs, Outcome } from './forward.ts';
import type { ParsedEvent, ResponseTransformer } from './guard.ts';
import type { ExchangeRecording } from '../audit/recorder.ts';
import { clientResponseHeaders } from './headers.ts';
import { encodeSse, SseDecoder } from './sse.ts';
import type { SseEvent } from './protocols/types.ts';
import { isUsageOnlyChunk } from './usage-probe.ts';

interface PipeArgs extends ForwardArgs {
  up: Dispatcher.ResponseData;
  recording: ExchangeRecording;
  abort: AbortController;
  out: Outcome;
  transformer: ResponseTransformer | undefined;
  hideUsageChunk: boolean;
}

/**
 * Streaming is a pipe, not a buffer: each upstream SSE event is parsed, optionally rewritten, written to the
 * client and recorded as it arrives. Reading the upstream pauses while the client socket is full (backpressure
 * reaches the provider through TCP). An upstream that ends without its protocol's terminal event, or sends
 * something that is not SSE/JSON, ends the client's stream with a protocol-correct error.
 */
export async function pipeStream(p: PipeArgs): Promise<void> {
  const { res, deps, ctx, out } = p;
  // A held stream (approvals) already sent 200 + SSE headers with keep-alive comments: continue that response.
  if (!res.headersSent) res.writeHead(p.up.statusCode, {
    ...clientResponseHeaders(p.up.headers),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  const decoder = new SseDecoder();
  let terminal = false;
  for await (const chunk of p.up.body) {
    if (p.recording.failure) throw new GatewayError('recording_failed', 'The exchange could not be recorded; the stream was stopped.');
    let events: SseEvent[];
    try {
      events = decoder.push(chunk as Buffer);
    } catch {
      throw new GatewayError('upstream_protocol_error', 'The provider sent a malformed event stream.');
    }
    let text = '';
    for (const ev of events) {
      const parsed = parseData(ev, p.transformer !== undefined);
      p.protocol.foldStreamUsage(ctx.endpoint.id, parsed, out.usage);
      if (p.protocol.isTerminal(ctx.endpoint.id, ev)) terminal = true;
      if (p.hideUsageChunk && isUsageOnlyChunk(parsed)) {
        p.recording.event(p.deps.clock.mono() - p.mono0, ev.event, ev.data);
        continue;
      }
      text += p.transformer ? rewrite(p, ev, parsed) : passThrough(p, ev);
    }
    if (text) await write(p, text);
  }
  if (p.transformer) {
    const tail = p.transformer.end().map((o) => emit(p, o, undefined)).join('');
    if (tail) await write(p, tail);
  }
  if (!terminal) throw new GatewayError('upstream_protocol_error', 'The provider ended the stream before it was complete.');
  out.timings.clientFirstByteMs ??= deps.clock.mono() - p.mono0;
  res.end();
}

/** Events a transformer rewrites are re-serialized: their numbers are kept exact (src/core/json-exact.ts). */
function parseData(ev: SseEvent, exact: boolean): unknown {
  if (ev.data === '[DONE]') return '[DONE]';
  try {
    return exact ? parseJsonExact(ev.data) : JSON.parse(ev.data);
  } catch {
    throw new GatewayError('upstream_protocol_error', 'The provider sent a stream event that is not valid JSON.');
  }
}

function passThrough(p: PipeArgs, ev: SseEvent): string {
  p.recording.event(p.deps.clock.mono() - p.mono0, ev.event, ev.data);
  return encodeSse(ev);
}

function rewrite(p: PipeArgs, ev: SseEvent, parsed: unknown): string {
  let text = '';
  for (const o of p.transformer!.onEvent({ event: ev.event, data: parsed })) text += emit(p, o, ev.data);
  return text;
}

function emit(p: PipeArgs, o: ParsedEvent, upstreamData: string | undefined): string {
  const data = o.data === '[DONE]' ? '[DONE]' : JSON.stringify(o.data);
  p.recording.event(p.deps.clock.mono() - p.mono0, o.event, data, upstreamData);
  return encodeSse({ event: o.event, id: undefined, data });
}

async function write(p: PipeArgs, text: string): Promise<void> {
  p.out.timings.clientFirstByteMs ??= p.deps.clock.mono() - p.mono0;
  if (!p.res.write(text)) await once(p.res, 'drain', { signal: p.abort.signal });
}
