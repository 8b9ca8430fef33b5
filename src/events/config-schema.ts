/**
 * The `events` config section (docs/events.md documents every key). Merged into the gateway schema by one property
 * line in src/config/schema.ts. Secrets (HTTP auth header values, HEC tokens, TLS keys) are secret references
 * (`env:`, `file:`, `${VAR}`), resolved once by createSinks.
 */
export type SinkType = 'file' | 'syslog' | 'http' | 'splunk_hec' | 'otlp';

export interface SinkCommon {
  name: string;
  type: SinkType;
  /** Events per delivery (one HTTP request, one file write, one burst of syslog frames). */
  batch_size: number;
  /** Per-delivery timeout (every sink type); must stay below `events.lease_ms` (checkEventsConfig). */
  timeout_ms: number;
}

export interface FileSinkConfig extends SinkCommon {
  type: 'file';
  path: string;
  max_bytes: number;
  /** Rotate after this long even when `max_bytes` is not reached (0 = size only). */
  rotate_interval_ms: number;
  keep: number;
  fsync: boolean;
}

export interface SyslogSinkConfig extends SinkCommon {
  type: 'syslog';
  transport: 'udp' | 'tcp' | 'tls';
  host: string;
  port: number;
  facility: number;
  app_name: string;
  /** SD-ID of the structured-data element (`name@PEN`, RFC 5424 §6.3.2). */
  sd_id: string;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string; reject_unauthorized: boolean };
}

export interface HttpSinkConfig extends SinkCommon {
  type: 'http' | 'splunk_hec' | 'otlp';
  url: string;
  /** http: header carrying the credential, e.g. `{name: Authorization, value: "env:SIEM_TOKEN"}`. */
  auth_header?: { name: string; value: string };
  /** splunk_hec: HEC token (secret reference), sent as `Authorization: Splunk <token>`. */
  token?: string;
  /** splunk_hec: optional index / sourcetype / source. */
  index?: string;
  sourcetype: string;
  source: string;
  /** Extra static headers (not secrets). */
  headers: Record<string, string>;
  /** PEM CA bundle path for private collectors. */
  ca_file?: string;
}

export type SinkConfig = FileSinkConfig | SyslogSinkConfig | HttpSinkConfig;

export interface EventsConfig {
  sinks: SinkConfig[];
  /** Undelivered events kept in the outbox before the `on_full` policy applies. */
  max_backlog: number;
  on_full: 'fail_closed' | 'spill';
  spill_path: string;
  lease_ms: number;
  poll_interval_ms: number;
  prune_interval_ms: number;
  /** A sink no replica has used for this long (removed from config) no longer holds back pruning. */
  forget_sink_after_ms: number;
  retry: { initial_ms: number; max_ms: number };
  health: { max_lag_events: number; max_lag_ms: number };
}

const ms = { type: 'integer', minimum: 1, maximum: 86_400_000 } as const;
const name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' } as const;

const common = {
  name,
  type: { enum: ['file', 'syslog', 'http', 'splunk_hec', 'otlp'] },
  batch_size: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 },
  timeout_ms: { ...ms, default: 10_000 },
} as const;

const fileSink = {
  type: 'object', additionalProperties: false, required: ['name', 'type', 'path'],
  properties: {
    ...common, type: { const: 'file' },
    path: { type: 'string', minLength: 1, description: 'JSON lines file (relative to the config file)' },
    max_bytes: { type: 'integer', minimum: 1024, default: 100 * 1024 * 1024 },
    rotate_interval_ms: { type: 'integer', minimum: 0, maximum: 31 * 86_400_000, default: 86_400_000 },
    keep: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
    fsync: { type: 'boolean', default: true, description: 'fsync each batch before it counts as delivered' },
  },
} as const;

const syslogSink = {
  type: 'object', additionalProperties: false, required: ['name', 'type', 'host', 'port'],
  properties: {
    ...common, type: { const: 'syslog' },
    transport: { enum: ['udp', 'tcp', 'tls'], default: 'tcp' },
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 1, maximum: 65_535 },
    facility: { type: 'integer', minimum: 0, maximum: 23, default: 13, description: 'RFC 5424 facility (13 = log audit)' },
    app_name: { type: 'string', pattern: '^[!-~]{1,48}$', default: 'portcullis' },
    sd_id: { type: 'string', pattern: '^[!-~]{1,32}$', default: 'portcullis@32473' },
    tls: {
      type: 'object', additionalProperties: false,
      properties: {
        ca: { type: 'string', description: 'path of a PEM CA bundle' },
        cert: { type: 'string', description: 'path of a PEM client certificate' },
        key: { type: 'string', description: 'secret reference to the PEM client key' },
        servername: { type: 'string' },
        reject_unauthorized: { type: 'boolean', default: true },
      },
    },
  },
} as const;

const httpSink = {
  type: 'object', additionalProperties: false, required: ['name', 'type', 'url'],
  properties: {
    ...common, type: { enum: ['http', 'splunk_hec', 'otlp'] },
    url: { type: 'string', pattern: '^https?://' },
    auth_header: {
      type: 'object', additionalProperties: false, required: ['name', 'value'],
      properties: { name: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' }, value: { type: 'string', minLength: 1 } },
    },
    token: { type: 'string', minLength: 1 },
    index: { type: 'string' },
    sourcetype: { type: 'string', default: 'ocsf:portcullis' },
    source: { type: 'string', default: 'portcullis' },
    headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
    ca_file: { type: 'string' },
  },
} as const;

export const eventsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    sinks: {
      type: 'array', default: [],
      items: {
        type: 'object', required: ['type'],
        properties: { type: { enum: ['file', 'syslog', 'http', 'splunk_hec', 'otlp'] } },
        if: { properties: { type: { const: 'file' } } },
        then: fileSink,
        else: { if: { properties: { type: { const: 'syslog' } } }, then: syslogSink, else: httpSink },
      },
    },
    max_backlog: { type: 'integer', minimum: 100, default: 1_000_000 },
    on_full: { enum: ['fail_closed', 'spill'], default: 'spill', description: 'what happens when max_backlog is reached' },
    spill_path: { type: 'string', default: './.portcullis/events-spill.jsonl' },
    lease_ms: { ...ms, default: 30_000, description: 'delivery lease per sink (several replicas: one delivers at a time)' },
    poll_interval_ms: { ...ms, default: 1_000 },
    prune_interval_ms: { ...ms, default: 10_000 },
    forget_sink_after_ms: { type: 'integer', minimum: 60_000, default: 7 * 86_400_000, description: 'an unused sink cursor stops holding back pruning after this' },
    retry: {
      type: 'object', additionalProperties: false, default: {},
      properties: { initial_ms: { ...ms, default: 500 }, max_ms: { ...ms, default: 60_000 } },
    },
    health: {
      type: 'object', additionalProperties: false, default: {},
      properties: { max_lag_events: { type: 'integer', minimum: 1, default: 10_000 }, max_lag_ms: { ...ms, default: 300_000 } },
    },
  },
} as const;

/** One semantic problem of the `events` section, by key path (`events.sinks[0].timeout_ms`). */
export interface EventsConfigIssue {
  path: string;
  message: string;
}

/**
 * Checks the JSON Schema cannot express: every sink's `timeout_ms` below `events.lease_ms` (a delivery that outlives
 * its lease lets another replica send the same batch), and unique sink names. Run at config load and again when
 * the pipeline opens.
 */
export function checkEventsConfig(c: Pick<EventsConfig, 'sinks' | 'lease_ms'>): EventsConfigIssue[] {
  const issues: EventsConfigIssue[] = [];
  const names = new Set<string>();
  c.sinks.forEach((s, i) => {
    if (names.has(s.name)) issues.push({ path: `events.sinks[${i}].name`, message: `duplicate sink name "${s.name}"` });
    names.add(s.name);
    if (!(s.timeout_ms < c.lease_ms)) {
      issues.push({ path: `events.sinks[${i}].timeout_ms`, message: `must be below events.lease_ms (${s.timeout_ms} >= ${c.lease_ms}): a delivery that outlives its lease can be sent twice by another replica` });
    }
  });
  return issues;
}
