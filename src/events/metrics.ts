import { Counter, Gauge, type Registry } from 'prom-client';

/** Prometheus metrics of the events pipeline, registered on the registry the gateway serves at /metrics. */
export class EventMetrics {
  readonly backlog: Gauge<'sink'>;
  readonly oldestAge: Gauge<'sink'>;
  readonly behind: Gauge<'sink'>;
  readonly delivered: Counter<'sink'>;
  readonly failures: Counter<'sink' | 'code'>;
  readonly permanentFailures: Counter<'sink' | 'code'>;
  readonly failing: Gauge<'sink'>;
  readonly enqueued: Counter<'source'>;
  readonly spilled: Counter;
  readonly spillPending: Gauge;
  readonly refused: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.backlog = new Gauge({ name: 'portcullis_events_backlog', help: 'Events not yet delivered, per sink', labelNames: ['sink'], registers });
    this.oldestAge = new Gauge({ name: 'portcullis_events_oldest_undelivered_seconds', help: 'Age of the oldest undelivered event, per sink', labelNames: ['sink'], registers });
    this.behind = new Gauge({ name: 'portcullis_events_sink_behind', help: '1 when a sink is behind the health thresholds', labelNames: ['sink'], registers });
    this.delivered = new Counter({ name: 'portcullis_events_delivered_total', help: 'Events delivered, per sink', labelNames: ['sink'], registers });
    this.failures = new Counter({ name: 'portcullis_events_delivery_failures_total', help: 'Failed delivery attempts, per sink and code', labelNames: ['sink', 'code'], registers });
    this.permanentFailures = new Counter({ name: 'portcullis_events_permanent_failures_total', help: 'Failed delivery attempts a retry cannot fix (HTTP 4xx other than 408/425/429), per sink and code', labelNames: ['sink', 'code'], registers });
    this.failing = new Gauge({ name: 'portcullis_events_sink_failing', help: '1 while a sink\'s last attempt failed with an error a retry cannot fix', labelNames: ['sink'], registers });
    this.enqueued = new Counter({ name: 'portcullis_events_enqueued_total', help: 'Events written to the outbox, per source', labelNames: ['source'], registers });
    this.spilled = new Counter({ name: 'portcullis_events_spilled_total', help: 'Events written to the spill file', registers });
    this.spillPending = new Gauge({ name: 'portcullis_events_spill_pending', help: 'Events waiting in the spill file', registers });
    this.refused = new Counter({ name: 'portcullis_events_refused_total', help: 'Actions refused because the outbox was full (fail_closed)', registers });
  }
}
