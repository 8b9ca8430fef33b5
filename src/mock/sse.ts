import type { ServerResponse } from 'node:http';

/**
 * Holds paced streams open (bench/streams.ts): after its first two events each stream sends only a keep-alive
 * comment per pace until `released`, so every stream of a slow ramp is open at once; then it goes on at its own
 * pace (the streams stay spread over the pace, as real ones are).
 */
export interface StreamHold {
  released: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes SSE events with an optional delay, honouring backpressure; stops when the client went away. */
export class SseWriter {
  readonly #res: ServerResponse;
  readonly #delayMs: number;
  readonly #hold: StreamHold | undefined;
  #first = true;
  #sent = 0;

  constructor(res: ServerResponse, delayMs: number, hold?: StreamHold) {
    this.#res = res;
    this.#delayMs = delayMs;
    this.#hold = hold;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  }

  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded;
  }

  /** Sends one event; `event` undefined = data-only (OpenAI chat). Returns false once the client is gone. */
  async send(data: unknown, event?: string): Promise<boolean> {
    if (!this.#first && this.#delayMs > 0) await sleep(this.#delayMs);
    this.#first = false;
    while (this.#sent >= 2 && this.#hold?.released === false && !this.closed) {
      this.#res.write(': held\n\n'); // a comment (HTML §9.2.6): clients ignore it; it keeps idle timers from firing
      await sleep(this.#delayMs || 1000);
    }
    if (this.closed) return false;
    this.#sent++;
    const text = `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
    if (!this.#res.write(text)) {
      await new Promise<void>((r) => {
        const done = (): void => {
          this.#res.off('drain', done);
          this.#res.off('close', done);
          r();
        };
        this.#res.on('drain', done);
        this.#res.on('close', done);
      });
    }
    return !this.closed;
  }

  raw(text: string): void {
    if (!this.closed) this.#res.write(text);
  }

  end(): void {
    if (!this.closed) this.#res.end();
  }
}

/** Splits a text into `n` roughly equal, non-empty pieces (fewer when the text is shorter). */
export function split(text: string, n: number): string[] {
  if (text.length === 0) return [''];
  const size = Math.max(1, Math.ceil(text.length / n));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export const tokens = (s: string): number => Math.max(1, Math.ceil(s.length / 4));
