import { once } from 'node:events';
import { parseJsonExact } from '../core/json-exact.ts';
import type { Dispatcher } from 'undici';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { HeldSession } from './sessionless.ts';
import type { Exchange } from './relay.ts';
import { synthetic } from './sessionless-forward.ts';
import { formatSse } from './sse.ts';

/** The list-change notifications a `subscriptions/listen` filter can ask for, by the filter's field (2026-07-28). */
const LIST_CHANGES: Record<string, string> = {
  toolsListChanged: 'notifications/tools/list_changed',
  promptsListChanged: 'notifications/prompts/list_changed',
  resourcesListChanged: 'notifications/resources/list_changed',
};
const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const MAX_EVENT_BYTES = 1024 * 1024;

/**
 * `subscriptions/listen` for a 2025-era server: the server's own stream of the caller's gateway-held session (the
 * GET of 2025-11-25) carries its list changes. The gateway opens it, acknowledges the list changes the caller asked
 * for (`notifications/subscriptions/acknowledged`, 2026-07-28: "report which notification types it agreed to
 * honor"), and passes on only those, stamped with the listen request's id. Resource subscriptions are not honored
 * (`resources/subscribe` has no 2026-07-28 form through the gateway). A server without a stream honors nothing; the
 * answer stays open until the caller leaves. The relay then treats it as any server stream (list_changed marks the
 * catalogue stale, server requests are refused).
 */
export async function listenInSession(ex: Exchange, held: HeldSession, msg: Record<string, unknown>, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
  const requested = ((msg.params as Record<string, unknown> | undefined)?.notifications ?? {}) as Record<string, unknown>;
  let up: Dispatcher.ResponseData | undefined = await ex.upstream.request({
    method: 'GET', incoming: { accept: 'text/event-stream' }, headers: { 'mcp-protocol-version': held.version }, sessionId: held.id, signal, stream: true,
  });
  if (up.statusCode !== 200 || !String(up.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    await up.body.dump();
    up = undefined;
  }
  const honored = up ? Object.fromEntries(Object.keys(LIST_CHANGES).filter((k) => requested[k] === true).map((k) => [k, true])) : {};
  const wanted = new Set(Object.keys(honored).map((k) => LIST_CHANGES[k]!));
  const stamp = (m: Record<string, unknown>): string => JSON.stringify({ ...m, params: { ...(m.params as Record<string, unknown> | undefined), _meta: { [SUBSCRIPTION_ID]: msg.id } } });
  const stream = up;
  async function* events(): AsyncGenerator<string> {
    yield formatSse({ data: stamp({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: honored } }) });
    if (!stream) {
      if (!signal.aborted) await once(signal, 'abort').catch(() => undefined);
      return;
    }
    const queue: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (e) => void queue.push(e) });
    const decoder = new TextDecoder();
    let pending = 0;
    for await (const chunk of stream.body) {
      pending += (chunk as Buffer).length;
      parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
      // A server that never ends an event cannot grow the parser's buffer forever (as in sse.ts).
      if (queue.length > 0) pending = 0;
      else if (pending > MAX_EVENT_BYTES) throw new Error('SSE event too large');
      for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
        const m = parse(e.data);
        // List changes the caller asked for, and server requests (the relay refuses those upstream).
        if (m && typeof m.method === 'string' && (wanted.has(m.method) || m.id !== undefined)) yield formatSse({ data: m.id !== undefined ? e.data : stamp(m) });
      }
    }
  }
  return synthetic('text/event-stream', events());
}

function parse(s: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = parseJsonExact(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
