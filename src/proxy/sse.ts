import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { SseEvent } from './protocols/types.ts';

/**
 * Server-sent events (HTML Living Standard §9.2 "Server-sent events"). Parsing uses eventsource-parser (the
 * spec's line-buffering rules, CR/LF variants, multi-line data); a TextDecoder in stream mode keeps multi-byte
 * UTF-8 characters split across TCP chunks intact. `maxBufferSize` bounds an upstream that never ends a line.
 */
export class SseDecoder {
  readonly #decoder = new TextDecoder('utf-8', { fatal: false });
  readonly #parser: EventSourceParser;
  #events: SseEvent[] = [];
  #error: Error | undefined;

  constructor(maxBufferSize = 8 * 1024 * 1024) {
    this.#parser = createParser({
      maxBufferSize,
      onEvent: (m) => this.#events.push({ event: m.event, id: m.id, data: m.data }),
      onError: (e) => (this.#error = e),
    });
  }

  /** Events completed by this chunk, in order. Throws when the byte stream is not SSE. */
  push(chunk: Uint8Array): SseEvent[] {
    this.#parser.feed(this.#decoder.decode(chunk, { stream: true }));
    if (this.#error) throw this.#error;
    const out = this.#events;
    this.#events = [];
    return out;
  }
}

/** Serialise one event; `data` may hold newlines (one `data:` line each, as the spec requires). */
export function encodeSse(ev: SseEvent): string {
  let s = '';
  if (ev.event !== undefined) s += `event: ${ev.event}\n`;
  if (ev.id !== undefined) s += `id: ${ev.id}\n`;
  if (ev.data.includes('\n')) {
    for (const line of ev.data.split('\n')) s += `data: ${line}\n`;
  } else {
    s += `data: ${ev.data}\n`;
  }
  return s + '\n';
}

/** A comment line: ignored by every SSE client; keeps idle connections (approval holds) alive. */
export const SSE_KEEPALIVE = ': keep-alive\n\n';
