import type { KeyObject } from 'node:crypto';
import type { ExchangeStart } from '../store/ports.ts';
import type { NotedToolCall, ToolCallIndex } from './tool-call-index.ts';
import { argumentsTextDigest, StreamToolCalls, TOOL_CALL_ENDPOINTS, toolCallsInJson, type ModelToolCall } from './tool-calls.ts';

/** What the recorder needs to note model tool calls (wired by the composition root when MCP servers exist). */
export interface ToolCallNoting {
  index: ToolCallIndex;
  /** The key of the argument digests (src/audit/tool-calls.ts `argumentsDigest`); the MCP front uses the same. */
  key: KeyObject;
  /** How long a note can be linked (`mcp.correlation_window_ms`); older notes are forgotten as new ones are written. */
  windowMs: number;
  /** A note that could not be written: the exchange goes on (correlation is evidence, not a control). */
  onError(err: unknown, exchangeId: string): void;
}

/**
 * One model exchange's tool calls on their way to the index: a streamed call is written the moment its last event
 * passes (before the agent has it), a whole answer's calls when the exchange finishes.
 */
export class ModelToolCallNotes {
  readonly #n: ToolCallNoting;
  readonly #start: ExchangeStart & { subject: string };
  readonly #now: () => number;
  readonly #stream: StreamToolCalls;
  readonly #writes: Promise<void>[] = [];

  /** Notes for `start`, or undefined when its endpoint cannot answer with tool calls or it has no identity. */
  static for(n: ToolCallNoting, start: ExchangeStart, now: () => number): ModelToolCallNotes | undefined {
    if (!TOOL_CALL_ENDPOINTS.has(start.endpoint) || !start.subject) return undefined;
    return new ModelToolCallNotes(n, { ...start, subject: start.subject }, now);
  }

  private constructor(n: ToolCallNoting, start: ExchangeStart & { subject: string }, now: () => number) {
    this.#n = n;
    this.#start = start;
    this.#now = now;
    this.#stream = new StreamToolCalls(start.endpoint, (c) => this.#note([c]));
  }

  event(data: string): void {
    this.#stream.event(data);
  }

  /**
   * The exchange ended: what is left of the stream, or the calls of the whole answer `answer` (the JSON document the
   * pipeline parsed and sent); resolves once all are written.
   */
  async end(answer: unknown): Promise<void> {
    this.#stream.end();
    if (answer !== undefined) this.#note(toolCallsInJson(this.#start.endpoint, answer));
    await Promise.all(this.#writes);
  }

  #note(calls: ModelToolCall[]): void {
    const at = this.#now();
    const rows: NotedToolCall[] = [];
    for (const c of calls) {
      const argsDigest = argumentsTextDigest(this.#n.key, c.argumentsText);
      if (argsDigest) rows.push({ subject: this.#start.subject, argsDigest, at, exchangeId: this.#start.id, toolCallId: c.id, name: c.name });
    }
    if (rows.length === 0) return;
    this.#writes.push(this.#n.index.note(rows, at - this.#n.windowMs).catch((err: unknown) => this.#n.onError(err, this.#start.id)));
  }
}
