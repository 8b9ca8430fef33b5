import type { Clock } from '../core/clock.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { ExchangeFinish, ExchangeRow, ExchangeStart, Store } from '../store/ports.ts';
import type { ExchangeObserver } from './exchange-observer.ts';
import { createRecordHygiene, type CleanFields } from './record-hygiene.ts';
import { openSegments, sealBody, sealSegment, type RecordedEvent } from './recording.ts';

export interface RecorderOptions {
  store: Store;
  /** This process's replica lease id, stamped on every exchange it serves (`ExchangeStart.owner`). */
  owner?: string;
  keyring: Keyring;
  clock: Clock;
  observers: readonly ExchangeObserver[];
  recordBodies: boolean;
  flushIntervalMs: number;
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

  constructor(opts: RecorderOptions) {
    this.#o = opts;
    this.#hygiene = createRecordHygiene(opts.keyring);
  }

  async begin(rec: StartRecord, bodies: { client: Buffer; upstream: Buffer | undefined }): Promise<ExchangeRecording> {
    const start = this.#startRecord(rec, bodies);
    const observed = await writeThenObserve(this.#o, this.#o.store.exchanges.start(start), (obs) => obs.onStart?.(start));
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
    const start: ExchangeStart = { ...row, clientRequest: bodies?.clientRequest ?? null, upstreamRequest: bodies?.upstreamRequest ?? null, sessionHint: undefined };
    for (const obs of this.#o.observers) await obs.onFinish?.(start, fin);
    return true;
  }

  /** A request refused before it went upstream, written in one step: recorded as never sent to the provider. */
  async rejected(rec: StartRecord, client: Buffer | undefined, finish: Omit<ExchangeFinish, 'id' | 'eventCount' | 'response' | 'forwarded'>): Promise<void> {
    const start = this.#startRecord(rec, { client, upstream: undefined });
    const fin: ExchangeFinish = { ...finish, id: rec.id, eventCount: 0, response: null, forwarded: false };
    const started = await writeThenObserve(this.#o, this.#o.store.exchanges.recordRejected(start, fin), (obs) => obs.onStart?.(start));
    if (started.failed) throw started.error;
    const finished = await writeThenObserve(this.#o, Promise.resolve(), (obs) => obs.onFinish?.(start, fin));
    if (finished.failed) throw finished.error;
  }

  #startRecord(rec: StartRecord, bodies: { client: Buffer | undefined; upstream: Buffer | undefined }): ExchangeStart {
    const seal = this.#o.recordBodies;
    return {
      ...rec,
      ...this.#hygiene(rec),
      owner: this.#o.owner ?? null,
      clientRequest: seal && bodies.client ? sealBody(this.#o.keyring, rec.id, 'client_request', bodies.client) : null,
      upstreamRequest: seal && bodies.upstream ? sealBody(this.#o.keyring, rec.id, 'upstream_request', bodies.upstream) : null,
    };
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

  constructor(o: RecorderOptions, start: ExchangeStart) {
    this.#o = o;
    this.start = start;
  }

  event(tMs: number, event: string | undefined, data: string, upstreamData?: string): void {
    this.#count++;
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

  async finish(f: Omit<ExchangeFinish, 'id' | 'eventCount' | 'response'>, responseBody?: Buffer): Promise<void> {
    this.#flush();
    await Promise.all(this.#writes);
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
