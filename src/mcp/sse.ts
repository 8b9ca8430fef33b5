import { createParser, type EventSourceMessage } from 'eventsource-parser';

/**
 * Server-Sent Events in and out (HTML Living Standard §9.2). Incoming bytes are parsed event by event with a
 * streaming UTF-8 decoder; each event is written out as soon as it is handled, waiting for `drain` when the
 * client is slow, so the upstream read pauses and backpressure reaches the server. Event ids are kept: a client
 * resumes with `Last-Event-ID`, which goes upstream unchanged.
 */
export async function pumpSse(body: AsyncIterable<Buffer>, maxEventBytes: number, onEvent: (e: EventSourceMessage) => Promise<void>): Promise<void> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => void queue.push(e) });
  const decoder = new TextDecoder();
  // Bytes since the last complete event: a server that never ends an event cannot grow the parser's buffer forever.
  let pending = 0;
  for await (const chunk of body) {
    pending += chunk.length;
    parser.feed(decoder.decode(chunk, { stream: true }));
    if (queue.length > 0) pending = 0;
    else if (pending > maxEventBytes) throw new Error('SSE event too large');
    while (queue.length > 0) await onEvent(queue.shift()!);
  }
  parser.feed(decoder.decode());
  while (queue.length > 0) await onEvent(queue.shift()!);
}

export function formatSse(e: { id?: string | undefined; event?: string | undefined; data: string }): string {
  let out = '';
  // Field values are one line each (the parser split them); a newline in an id or event name cannot inject a field.
  if (e.id !== undefined) out += `id: ${e.id.replace(/[\r\n]/g, '')}\n`;
  if (e.event !== undefined && e.event !== 'message') out += `event: ${e.event.replace(/[\r\n]/g, '')}\n`;
  for (const line of e.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

