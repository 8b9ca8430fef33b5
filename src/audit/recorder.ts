import type { Clock } from '../core/clock.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { isStaleMessageRefs, type ExchangeFinish, type ExchangeRow, type ExchangeStart, type Store } from '../store/ports.ts';
import { KnownMessages, MessageBatch, messageScope, plainBody } from './dedup.ts';
import type { ExchangeObserver } from './exchange-observer.ts';
import { sessionHintOf } from './observer.ts';
import { createRecordHygiene, type CleanFields } from './record-hygiene.ts';
import { openRecordedBody, openSegments, sealBody, sealSegment, type RecordedEvent } from './recording.ts';
import { ModelToolCallNotes, type ToolCallNoting } from './tool-call-notes.ts';

export interface RecorderOptions {
  store: Store;
  /** This process's replica lease id, stamped on every exchange it serves (`ExchangeStart.owner`). */
  owner?: string;
  keyring: Keyring;
  clock: Clock;
  observers: readonly ExchangeObserver[];
  recordBodies: boolean;
  flushIntervalMs: number;
  /**
   * Store request messages once per conversation (src/audit/dedup.ts; default true). Only exchanges with a client
   * conversation id are deduplicated; the rest are stored whole.
   */
  dedupMessages?: boolean;
  /**
   * Note the tool calls in model answers for linking the MCP calls that follow (docs/mcp.md#correlation); off
   * when no MCP server is configured.
   */
  toolCalls?: ToolCallNoting | undefined;
}

export type StartRecord = Omit<ExchangeStart, 'clientRequest' | 'upstreamRequest'>;

/**
 * The store write, then every observer's call. Where the store applies calls made together in order, they are issued
 * together and travel in one worker message and transaction (observers such as the audit chain read the row the
 * write made); elsewhere the write is awaited first. A failed write rejects; a failed observer is returned, so the
 * caller decides (begin closes the row it started).
 */
async function writeThenObserve(
  o: RecorderOptions, write: Promise<void>, call: (obs: ExchangeObserver) => Promise<void> | undefined,
): Promise<{ failed: false } | { failed: true; error: unknown }> {
  const calls = o.store.appliesCallsMadeTogetherInOrder ? o.observers.map((obs) => call(obs) ?? Promise.resolve()) : undefined;
  const settled = calls ? Promise.allSettled(calls) : undefined;
  await write.catch(async (err: unknown) => {
    await settled;
    throw err;
  });
  try {
    if (settled) {
      for (const r of await settled) if (r.status === 'rejected') throw r.reason;
    } else {
      for (const obs of o.observers) await call(obs);
    }
    return { failed: false };
  } catch (error) {
    return { failed: true, error };
  }
}

/**
 * Writes exchanges to the store. `begin` is durable before it resolves (the pipeline awaits it before going
 * upstream: fail closed). Stream events are appended in sealed segments as they flow — flushed every
 * `flushIntervalMs` — so a crash mid-stream keeps what was already sent.
 */
export class ExchangeRecorder {
  readonly #o: RecorderOptions;
  /** Client-controlled metadata reduced to what may be stored in clear (record-hygiene.ts). */
  readonly #hygiene: (rec: CleanFields) => CleanFields;
  /** Messages this process stored or saw stored, per conversation (src/audit/dedup.ts). */
  readonly #known = new KnownMessages();
  /** The message batch of a start, until it is written (then its messages are known stored). */
  readonly #batches = new WeakMap<ExchangeStart, MessageBatch>();

  constructor(opts: RecorderOptions) {
    this.#o = opts;
    this.#hygiene = createRecordHygiene(opts.keyring);
  }

  async begin(rec: StartRecord, bodies: { client: Buffer; upstream: Buffer | undefined }): Promise<ExchangeRecording> {
    const { start, observed } = await this.#write(rec, bodies, (s) => this.#o.store.exchanges.start(s));
    if (observed.failed) {
      // Fail closed: the caller refuses the request (503 recording_failed). Close the row so it does not stay
      // in progress; if even that fails, the next start marks it abandoned.
      await this.#o.store.exchanges.finish({
        id: start.id, finishedAt: this.#o.clock.now(), status: 'failed', httpStatus: 503, errorCode: 'recording_failed',
        timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: null }, usage: { inputTokens: null, outputTokens: null, totalTokens: null },
        response: null, eventCount: 0, responseFindings: [], forwarded: false,
      }).catch(() => undefined);
      throw observed.error;
    }
    return new ExchangeRecording(this.#o, start);
  }

  /**
   * The start written and observed. A start that reused messages the store no longer holds (retention removed the
   * conversation since this process last saw it) wrote nothing: it is written again with every message. Once
   * written, its messages are known stored.
   */
  async #write(rec: StartRecord, bodies: { client: Buffer | undefined; upstream: Buffer | undefined }, write: (s: ExchangeStart) => Promise<void>):
  Promise<{ start: ExchangeStart; observed: Awaited<ReturnType<typeof writeThenObserve>> }> {
    let start = this.#startRecord(rec, bodies, true);
    let observed: Awaited<ReturnType<typeof writeThenObserve>>;
    try {
      observed = await writeThenObserve(this.#o, write(start), (obs) => obs.onStart?.(start));
    } catch (err) {
      if (!start.messages || start.messages.reused === 0 || !isStaleMessageRefs(err)) throw err;
      this.#known.forget(start.messages.scope);
      start = this.#startRecord(rec, bodies, false);
      observed = await writeThenObserve(this.#o, write(start), (obs) => obs.onStart?.(start));
    }
    const batch = this.#batches.get(start);
    if (batch && start.messages && !observed.failed) {
      this.#known.add(batch.scope.id, [...batch.added.keys(), ...batch.reused], this.#o.clock.now(), batch.split);
    }
    this.#batches.delete(start);
    return { start, observed };
  }

  /**
   * Ends an exchange another process left in flight (src/fleet/replica.ts): the conditional write, then — only for
   * the caller whose write ended it — the observers, so its end is chained exactly once. The events it streamed
   * before it was cut are counted from its stored segments.
   */
  async recover(row: ExchangeRow, finish: ExchangeFinish): Promise<boolean> {
    const bodies = await this.#o.store.exchanges.bodies(row.id);
    const eventCount = bodies ? openSegments(this.#o.keyring, row.id, bodies.segments).length : 0;
    // Stored stream events came from the provider: the request was sent. Without any, it is not known.
    const fin: ExchangeFinish = { ...finish, eventCount, forwarded: eventCount > 0 ? true : finish.forwarded };
    if (!(await this.#o.store.exchanges.interrupt(fin))) return false;
    // No session hint in hand: the audit observer reads it from the recorded request, as for other writers' rows.
    const start: ExchangeStart = {
      ...row, clientRequest: bodies?.clientRequest ?? null, upstreamRequest: bodies?.upstreamRequest ?? null,
      sessionHint: bodies?.clientRequest ? await this.#recordedHint(row.id, bodies.clientRequest) : undefined,
    };
    for (const obs of this.#o.observers) await obs.onFinish?.(start, fin);
    return true;
  }

  /** The conversation id in a recorded request (its messages spliced back in); undefined when it cannot be read. */
  async #recordedHint(id: string, sealed: Buffer): Promise<ExchangeStart['sessionHint']> {
    try {
      const body = await openRecordedBody(this.#o.keyring, this.#o.store.exchanges, id, 'client_request', sealed);
      return sessionHintOf(JSON.parse(body.toString('utf8')), undefined) ?? null;
    } catch {
      return undefined;
    }
  }

  /** A request refused before it went upstream, written in one step: recorded as never sent to the provider. */
  async rejected(rec: StartRecord, client: Buffer | undefined, finish: Omit<ExchangeFinish, 'id' | 'eventCount' | 'response' | 'forwarded'>): Promise<void> {
    const fin: ExchangeFinish = { ...finish, id: rec.id, eventCount: 0, response: null, forwarded: false };
    const { start, observed: started } = await this.#write(rec, { client, upstream: undefined }, (s) => this.#o.store.exchanges.recordRejected(s, fin));
    if (started.failed) throw started.error;
    const finished = await writeThenObserve(this.#o, Promise.resolve(), (obs) => obs.onFinish?.(start, fin));
    if (finished.failed) throw finished.error;
  }

  /** `useKnown`: reuse messages known stored (false after the store refused a reuse: every message is sent). */
  #startRecord(rec: StartRecord, bodies: { client: Buffer | undefined; upstream: Buffer | undefined }, useKnown: boolean): ExchangeStart {
    const base = { ...rec, ...this.#hygiene(rec), owner: this.#o.owner ?? null };
    if (!this.#o.recordBodies) return { ...base, clientRequest: null, upstreamRequest: null };
    const batch = this.#batch(rec, useKnown);
    const plain = (b: Buffer | undefined, client: boolean): Buffer | undefined => (b === undefined ? undefined : batch ? batch.skeleton(b, client) : plainBody(b));
    const client = plain(bodies.client, true);
    const upstream = plain(bodies.upstream, false);
    const start: ExchangeStart = {
      ...base,
      clientRequest: client ? sealBody(this.#o.keyring, rec.id, 'client_request', client) : null,
      upstreamRequest: upstream ? sealBody(this.#o.keyring, rec.id, 'upstream_request', upstream) : null,
      messages: batch && !batch.empty ? batch.forStore() : null,
    };
    if (batch) this.#batches.set(start, batch);
    return start;
  }

  /** Deduplication applies to an exchange in a conversation the client named (never the time-gap grouping). */
  #batch(rec: StartRecord, useKnown: boolean): MessageBatch | undefined {
    const hint = rec.sessionHint;
    if (this.#o.dedupMessages === false || !hint || hint.source.endsWith('time-gap')) return undefined;
    const scope = messageScope(this.#o.keyring, rec.subject, hint.key);
    return new MessageBatch(this.#o.keyring, scope, useKnown ? this.#known.get(scope.id, this.#o.clock.now()) : undefined);
  }
}

export class ExchangeRecording {
  readonly #o: RecorderOptions;
  readonly start: ExchangeStart;
  #pending: RecordedEvent[] = [];
  #seq = 0;
  #count = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #writes: Promise<void>[] = [];
  /** Set when a segment could not be written; the pipeline then ends the stream (fail closed). */
  failure: Error | undefined;
  readonly #toolCalls: ModelToolCallNotes | undefined;

  constructor(o: RecorderOptions, start: ExchangeStart) {
    this.#o = o;
    this.start = start;
    this.#toolCalls = o.toolCalls ? ModelToolCallNotes.for(o.toolCalls, start, () => o.clock.now()) : undefined;
  }

  event(tMs: number, event: string | undefined, data: string, upstreamData?: string): void {
    this.#count++;
    // What the agent receives (`data`, after any rewrite) is what it will call the tool with.
    this.#toolCalls?.event(data);
    if (!this.#o.recordBodies) return;
    const e: RecordedEvent = [Math.round(tMs * 1000) / 1000, event ?? null, data];
    if (upstreamData !== undefined && upstreamData !== data) e.push(upstreamData);
    this.#pending.push(e);
    this.#timer ??= setTimeout(() => this.#flush(), this.#o.flushIntervalMs);
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const seq = this.#seq++;
    const sealed = sealSegment(this.#o.keyring, this.start.id, seq, this.#pending);
    this.#pending = [];
    this.#writes.push(
      this.#o.store.exchanges.appendSegment(this.start.id, seq, sealed).catch((err: unknown) => {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
      }),
    );
  }

  /** `answer`: a non-streamed answer's JSON document as the client received it (already parsed; not parsed again). */
  async finish(f: Omit<ExchangeFinish, 'id' | 'eventCount' | 'response'>, responseBody?: Buffer, answer?: unknown): Promise<void> {
    this.#flush();
    await Promise.all(this.#writes);
    await this.#toolCalls?.end(f.status === 'completed' ? answer : undefined);
    const fin: ExchangeFinish = {
      ...f,
      id: this.start.id,
      eventCount: this.#count,
      response: this.#o.recordBodies && responseBody ? sealBody(this.#o.keyring, this.start.id, 'response', responseBody) : null,
    };
    if (this.failure && fin.status === 'completed') {
      fin.status = 'incomplete';
      fin.errorCode = 'recording_failed';
    }
    const observed = await writeThenObserve(this.#o, this.#o.store.exchanges.finish(fin), (obs) => obs.onFinish?.(this.start, fin));
    if (observed.failed) throw observed.error;
  }
}
