import type { StoredEvent } from '../repo.ts';

/**
 * A destination for events. `send` resolves only when the batch is accepted by the receiver (HTTP 2xx, written
 * and fsynced, handed to the socket), and rejects otherwise; the delivery loop then retries the same batch, so
 * receivers may see an event twice (at least once) and de-duplicate on `metadata.uid`.
 */
export interface Sink {
  readonly name: string;
  readonly batchSize: number;
  send(batch: readonly StoredEvent[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * Error for a delivery failure, with a closed-vocabulary code for logs and health (never the receiver's body).
 * `permanent`: the receiver refused the batch in a way that retrying the same request cannot fix (HTTP 4xx other
 * than 408/425/429: bad credentials, forbidden index, payload too large). The batch is still retried (at least
 * once), but the sink is reported as failing until a delivery succeeds.
 */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  readonly code: string;
  readonly permanent: boolean;
  constructor(code: string, message: string, o: { permanent?: boolean } = {}) {
    super(message);
    this.code = code;
    this.permanent = o.permanent ?? false;
  }
}

/**
 * A per-attempt deadline: `signal` aborts after `ms`, and `race(p)` settles like `p` unless the deadline (or the
 * caller's signal) comes first, then rejects with SinkError `timeout` (or `aborted`). `clear()` stops the timer.
 */
export interface Deadline {
  /** Aborts at the deadline or with the caller's signal; its `reason` is the SinkError. */
  readonly signal: AbortSignal;
  /** The SinkError (`timeout` or `aborted`) once the signal aborted. */
  readonly error: SinkError | undefined;
  race<T>(p: Promise<T>): Promise<T>;
  clear(): void;
}

export function deadline(ms: number, outer: AbortSignal, what: string): Deadline {
  const ac = new AbortController();
  let error: SinkError | undefined;
  const stop = (e: SinkError): void => {
    if (error) return;
    error = e;
    clearTimeout(t);
    ac.abort(e);
  };
  const t = setTimeout(() => stop(new SinkError('timeout', `${what} timed out after ${ms} ms`)), ms);
  const onOuter = (): void => stop(new SinkError('aborted', `${what} aborted`));
  if (outer.aborted) onOuter();
  else outer.addEventListener('abort', onOuter, { once: true });
  const signal = ac.signal;
  return {
    signal,
    get error() {
      return error;
    },
    race: <T>(p: Promise<T>): Promise<T> => new Promise<T>((ok, fail) => {
      if (error) return fail(error);
      const onAbort = (): void => fail(error ?? new SinkError('aborted', `${what} aborted`));
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => (signal.removeEventListener('abort', onAbort), ok(v)),
        (err: unknown) => (signal.removeEventListener('abort', onAbort), fail(err as Error)),
      );
    }),
    clear: () => {
      clearTimeout(t);
      outer.removeEventListener('abort', onOuter);
    },
  };
}

/** The OCSF fields sinks use to build their envelopes (everything else stays inside the serialized event). */
export interface EventHead {
  uid: string;
  time: number;
  severityId: number;
  classUid: number;
  typeUid: number;
  code: string;
}

export function headOf(e: StoredEvent): EventHead {
  const o = JSON.parse(e.body) as { severity_id?: number; class_uid?: number; type_uid?: number };
  return { uid: e.id, time: e.at, severityId: o.severity_id ?? 0, classUid: o.class_uid ?? 0, typeUid: o.type_uid ?? 0, code: e.type };
}
