import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { ExchangeObserver } from '../audit/exchange-observer.ts';
import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { EmitIdentityEvent } from '../identity/events.ts';
import type { EventsConfig } from './config-schema.ts';
import { startDelivery, type DeliveryLoop } from './delivery.ts';
import { EventMetrics } from './metrics.ts';
import type { EventMapper } from './ocsf.ts';
import type { OutboxEvent, OutboxRepo } from './repo.ts';
import type { Sink } from './sinks/sink.ts';
import { createSpillFile } from './spill.ts';
import type { SecurityEvent } from './types.ts';

/**
 * The events pipeline: every source writes its OCSF event durably into the outbox (the same store as the
 * exchange record), and one delivery loop per sink moves events out at least once. A full outbox never loses an
 * event silently: `fail_closed` refuses the action that would produce it (new exchanges get 503 recording_failed,
 * `emit` throws), `spill` appends it to a local JSON-lines file that is moved back into the outbox when there is
 * room. Authentication events cannot refuse a login from a callback, so they spill under both policies.
 */
export interface EventPipelineOptions {
  outbox: OutboxRepo;
  sinks: readonly Sink[];
  config: Omit<EventsConfig, 'sinks'>;
  mapper: EventMapper;
  clock: Clock;
  logger: GatewayLogger;
  /** Registry served at /metrics (GatewayMetrics.registry); metrics are skipped when absent. */
  registry?: Registry;
  /** This replica's lease owner id (default: host:pid:random). */
  owner?: string;
}

export interface SinkHealth {
  name: string;
  backlog: number;
  oldest_age_ms: number | null;
  behind: boolean;
  /** The last attempt failed with an error a retry cannot fix (HTTP 4xx other than 408/425/429). */
  failing: boolean;
  last_error: string | null;
  last_error_at: number | null;
  last_delivered_at: number | null;
}

export interface EventsHealth {
  ok: boolean;
  sinks: SinkHealth[];
  spill_pending: number;
}

export interface EventPipeline {
  /** Durably enqueues a security event (awaited). Throws GatewayError(recording_failed) when full under fail_closed. */
  emit(ev: SecurityEvent): Promise<void>;
  /** Add to the gateway's observers: one event per finished exchange; admission check at start under fail_closed. */
  readonly exchangeObserver: ExchangeObserver;
  /** Pass as createIdentity's `emit` (never throws; enqueue happens in the background). */
  readonly identityEmit: EmitIdentityEvent;
  start(): Promise<void>;
  /** Waits for background enqueues (identity events) to settle. */
  flush(): Promise<void>;
  health(): Promise<EventsHealth>;
  close(): Promise<void>;
}

const isFull = (err: unknown): boolean => err instanceof Error && /outbox full/.test(err.message);

export function createEventPipeline(o: EventPipelineOptions): EventPipeline {
  const cfg = o.config;
  const names = o.sinks.map((s) => s.name);
  const owner = o.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const metrics = o.registry ? new EventMetrics(o.registry) : undefined;
  const spill = createSpillFile(cfg.spill_path);
  const loops = new Map<string, DeliveryLoop>();
  const background = new Set<Promise<void>>();
  const timers: NodeJS.Timeout[] = [];
  let knownSize = 0;
  let closed = false;
  let maintaining: Promise<void> | undefined;
  const enabled = o.sinks.length > 0;

  async function write(rows: OutboxEvent[], w: { source: string; admitted: boolean; mustAccept: boolean }): Promise<void> {
    try {
      await o.outbox.enqueue(rows, w.admitted ? null : cfg.max_backlog);
      knownSize += rows.length;
      metrics?.enqueued.inc({ source: w.source }, rows.length);
      for (const l of loops.values()) l.wake();
    } catch (err) {
      const full = isFull(err);
      if (full && cfg.on_full === 'fail_closed' && !w.mustAccept) {
        metrics?.refused.inc();
        throw new GatewayError('recording_failed', 'The event outbox is full.', { details: { reason: 'events_outbox_full' }, cause: err });
      }
      // Spill (policy, or the store refused the write): if even the spill file fails, the caller fails closed.
      await spill.append(rows);
      metrics?.spilled.inc(rows.length);
      metrics?.spillPending.set(spill.pending());
      o.logger.warn({ event: full ? 'events_spilled_outbox_full' : 'events_spilled_store_error', count: rows.length, error_name: full ? undefined : errorName(err) });
    }
  }

  const exchangeObserver: ExchangeObserver = {
    name: 'events',
    onStart: async () => {
      if (!enabled || cfg.on_full !== 'fail_closed' || knownSize < cfg.max_backlog) return;
      knownSize = await o.outbox.size();
      if (knownSize >= cfg.max_backlog) {
        metrics?.refused.inc();
        throw new GatewayError('recording_failed', 'The event outbox is full.', { details: { reason: 'events_outbox_full' } });
      }
    },
    onFinish: async (start, fin) => {
      if (!enabled) return;
      // An exchange admitted at start always gets its event (the outbox may overshoot by the exchanges in flight).
      await write([o.mapper.exchange(start, fin)], { source: 'exchange', admitted: cfg.on_full === 'fail_closed', mustAccept: true });
    },
  };

  const identityEmit: EmitIdentityEvent = (e) => {
    if (!enabled || closed) return;
    const p = write([o.mapper.identity(e)], { source: 'identity', admitted: false, mustAccept: true }).catch((err: unknown) => {
      o.logger.error({ event: 'events_identity_event_lost', error_name: errorName(err) });
    });
    background.add(p);
    void p.finally(() => background.delete(p));
  };

  async function drainSpill(): Promise<void> {
    const room = cfg.max_backlog - (await o.outbox.size());
    if (room <= 0) return;
    const moved = await spill.drain((rows) => o.outbox.enqueue(rows, cfg.max_backlog), Math.min(500, room)).catch((err: unknown) => {
      if (!isFull(err)) o.logger.warn({ event: 'events_spill_drain_failed', error_name: errorName(err) });
      return 0;
    });
    metrics?.spillPending.set(spill.pending());
    if (moved > 0) {
      knownSize += moved;
      o.logger.info({ event: 'events_spill_drained', count: moved });
      for (const l of loops.values()) l.wake();
    }
  }

  async function health(): Promise<EventsHealth> {
    const now = o.clock.now();
    const rows = enabled ? await o.outbox.backlog(names) : [];
    const sinks = rows.map((b): SinkHealth => {
      const st = loops.get(b.sink)?.status;
      const age = b.oldestAt === null ? null : Math.max(0, now - b.oldestAt);
      const behind = b.backlog > cfg.health.max_lag_events || (age !== null && age > cfg.health.max_lag_ms);
      metrics?.backlog.set({ sink: b.sink }, b.backlog);
      metrics?.oldestAge.set({ sink: b.sink }, (age ?? 0) / 1000);
      metrics?.behind.set({ sink: b.sink }, behind ? 1 : 0);
      const failing = st?.failing ?? false;
      metrics?.failing.set({ sink: b.sink }, failing ? 1 : 0);
      return { name: b.sink, backlog: b.backlog, oldest_age_ms: age, behind, failing, last_error: st?.lastError ?? null, last_error_at: st?.lastErrorAt ?? null, last_delivered_at: st?.lastDeliveredAt ?? null };
    });
    return { ok: sinks.every((s) => !s.behind && !s.failing) && spill.pending() === 0, sinks, spill_pending: spill.pending() };
  }

  async function maintain(): Promise<void> {
    try {
      await o.outbox.prune(names, o.clock.now() - cfg.forget_sink_after_ms);
      knownSize = await o.outbox.size();
      await drainSpill();
      const h = await health();
      for (const s of h.sinks.filter((x) => x.behind)) o.logger.warn({ event: 'events_sink_behind', path: s.name, count: s.backlog });
    } catch (err) {
      o.logger.warn({ event: 'events_maintenance_failed', error_name: errorName(err) });
    }
  }

  return {
    emit: async (ev) => {
      if (!enabled) return;
      await write([o.mapper.security(ev)], { source: 'security', admitted: false, mustAccept: false });
    },
    exchangeObserver,
    identityEmit,
    async start() {
      if (!enabled) return;
      knownSize = await o.outbox.size();
      await drainSpill();
      for (const sink of o.sinks) {
        loops.set(sink.name, startDelivery({
          sink, outbox: o.outbox, owner, leaseMs: cfg.lease_ms, pollMs: cfg.poll_interval_ms, retry: cfg.retry, clock: o.clock, logger: o.logger,
          onDelivered: (name, n) => {
            metrics?.delivered.inc({ sink: name }, n);
            metrics?.failing.set({ sink: name }, 0);
          },
          onFailure: (name, code, permanent) => {
            metrics?.failures.inc({ sink: name, code });
            if (permanent) metrics?.permanentFailures.inc({ sink: name, code });
            metrics?.failing.set({ sink: name }, permanent ? 1 : 0);
          },
        }));
      }
      const t = setInterval(() => {
        if (maintaining) return;
        maintaining = maintain().finally(() => (maintaining = undefined));
      }, cfg.prune_interval_ms);
      t.unref();
      timers.push(t);
    },
    flush: async () => {
      await Promise.all([...background]);
    },
    health,
    async close() {
      closed = true;
      for (const t of timers) clearInterval(t);
      await maintaining;
      await Promise.all([...background]);
      await Promise.all([...loops.values()].map((l) => l.stop()));
      loops.clear();
      await Promise.all(o.sinks.map((s) => s.close().catch(() => undefined)));
    },
  };
}
