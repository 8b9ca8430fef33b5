import type { Clock } from '../core/clock.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { OutboxRepo } from './repo.ts';
import { SinkError, type Sink } from './sinks/sink.ts';

/**
 * The delivery loop of one sink: fetch a batch after the sink's cursor (taking or renewing the sink's lease),
 * send it, ack it, repeat. A failed batch is retried — the same events, in the same order — after an exponential
 * backoff with full jitter (delay = random(0, min(max, initial·2^attempt)), AWS Architecture Blog "Exponential
 * Backoff and Jitter"), so events are delivered at least once and in outbox order per sink. When another replica
 * holds the lease, this loop only polls until the lease is free. A permanent failure (SinkError.permanent, e.g. HTTP
 * 401/403/400/413) is retried the same way, but the sink is reported as failing until a delivery succeeds.
 */
export interface DeliveryOptions {
  sink: Sink;
  outbox: OutboxRepo;
  owner: string;
  leaseMs: number;
  pollMs: number;
  retry: { initial_ms: number; max_ms: number };
  clock: Clock;
  logger: GatewayLogger;
  onDelivered(sink: string, count: number): void;
  /** `permanent`: the receiver refused the batch in a way a retry cannot fix (SinkError.permanent). */
  onFailure(sink: string, code: string, permanent: boolean): void;
}

export interface SinkStatus {
  lastError: string | null;
  lastErrorAt: number | null;
  lastDeliveredAt: number | null;
  attempt: number;
  /** The last attempt failed with a permanent error: the sink needs an operator (until a delivery succeeds). */
  failing: boolean;
}

export interface DeliveryLoop {
  readonly status: SinkStatus;
  /** Something was enqueued: stop waiting for the next poll. */
  wake(): void;
  stop(): Promise<void>;
}

export function backoffMs(attempt: number, retry: { initial_ms: number; max_ms: number }, random: () => number = Math.random): number {
  const cap = Math.min(retry.max_ms, retry.initial_ms * 2 ** Math.min(attempt - 1, 30));
  return Math.max(retry.initial_ms / 4, random() * cap);
}

export function startDelivery(o: DeliveryOptions): DeliveryLoop {
  const status: SinkStatus = { lastError: null, lastErrorAt: null, lastDeliveredAt: null, attempt: 0, failing: false };
  const stopper = new AbortController();
  let wakeUp: (() => void) | undefined;
  let woken = false;

  const sleep = (ms: number): Promise<void> => new Promise((ok) => {
    if (stopper.signal.aborted || woken) {
      woken = false;
      return ok();
    }
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      stopper.signal.removeEventListener('abort', done);
      wakeUp = undefined;
      woken = false;
      ok();
    }
    wakeUp = done;
    stopper.signal.addEventListener('abort', done, { once: true });
  });

  async function once(): Promise<number> {
    const batch = await o.outbox.fetch({ sink: o.sink.name, owner: o.owner, leaseMs: o.leaseMs, now: o.clock.now(), limit: o.sink.batchSize });
    if (batch === null || batch.length === 0) return 0;
    await o.sink.send(batch, stopper.signal);
    await o.outbox.ack(o.sink.name, batch[batch.length - 1]!.pos, o.clock.now());
    return batch.length;
  }

  async function run(): Promise<void> {
    while (!stopper.signal.aborted) {
      try {
        const n = await once();
        if (status.attempt > 0) o.logger.info({ event: 'events_sink_recovered', path: o.sink.name, count: status.attempt });
        status.attempt = 0;
        status.failing = false;
        if (n > 0) {
          status.lastDeliveredAt = o.clock.now();
          o.onDelivered(o.sink.name, n);
          continue;
        }
        await sleep(o.pollMs);
      } catch (err) {
        if (stopper.signal.aborted) break;
        status.attempt++;
        status.lastError = errorName(err);
        status.lastErrorAt = o.clock.now();
        const permanent = err instanceof SinkError && err.permanent;
        if (permanent && !status.failing) {
          // Retrying the same batch will not help (bad token, forbidden index, batch too large): say so loudly once.
          // The batch is still retried — nothing is dropped — in case the receiver side gets fixed.
          o.logger.error({ event: 'events_sink_failing', path: o.sink.name, code: status.lastError, count: status.attempt }, 'the collector refuses this sink\'s batches; fix the sink or the collector');
        }
        status.failing = permanent;
        o.onFailure(o.sink.name, status.lastError, permanent);
        o.logger.warn({ event: 'events_delivery_failed', path: o.sink.name, code: status.lastError, count: status.attempt });
        await sleep(backoffMs(status.attempt, o.retry));
      }
    }
  }

  const done = run();
  return {
    status,
    wake: () => {
      // A failing sink keeps its backoff: new traffic must not turn retries into a tight loop.
      if (status.attempt > 0) return;
      if (wakeUp) wakeUp();
      else woken = true;
    },
    stop: async () => {
      stopper.abort();
      await done;
    },
  };
}
