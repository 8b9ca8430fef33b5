import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics served at GET /metrics. Label values come from closed sets (endpoint ids, codes). */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'portcullis_requests_total', help: 'Requests by endpoint and HTTP status', labelNames: ['endpoint', 'status'] as const, registers: [this.registry] });
  readonly duration = new Histogram({
    name: 'portcullis_request_duration_seconds',
    help: 'Time from request start to the end of the response',
    labelNames: ['endpoint'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly upstreamFirstByte = new Histogram({
    name: 'portcullis_upstream_first_byte_seconds',
    help: 'Time until the upstream answered (response headers)',
    labelNames: ['provider'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly streamsOpen = new Gauge({ name: 'portcullis_streams_open', help: 'SSE streams currently open', registers: [this.registry] });
  readonly errors = new Counter({ name: 'portcullis_errors_total', help: 'Refused or failed exchanges by error code', labelNames: ['code'] as const, registers: [this.registry] });

  constructor(opts: { defaultMetrics: boolean }) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
  }
}
