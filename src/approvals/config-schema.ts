/**
 * The `approvals` config section (docs/approvals.md documents every key). Merged into the gateway schema by one
 * property line in src/config/schema.ts. What needs approval, by whom, and how, is policy (rule `approval:`);
 * this section is how the gateway runs approvals.
 */
export interface ApprovalsConfig {
  /** Longest a `hold` request waits before it gets an error (the approval itself lives until its pending expiry). */
  max_hold_seconds: number;
  /** Interval of `: waiting for approval` SSE comments on a held stream. */
  keep_alive_seconds: number;
  /** How often a held request re-reads its approval (decisions made on another replica). */
  poll_ms: number;
  /** How often overdue approvals are moved to `expired`. */
  sweep_interval_seconds: number;
  /** Notified when an approval is requested. Header values are secret references (`env:`, `file:`, `${VAR}`). */
  webhooks: { url: string; format: 'json' | 'slack'; headers?: Record<string, string> }[];
}

/** Webhook receivers (approvals here, alert firings in src/alerts): JSON or Slack format, headers from secrets. */
export const WEBHOOKS_SCHEMA = {
  type: 'array',
  default: [],
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      url: { type: 'string', pattern: '^https?://', description: 'receiver URL (a Slack incoming-webhook URL for format slack)' },
      format: { enum: ['json', 'slack'], default: 'json' },
      headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'extra request headers (e.g. a shared secret); values may be env:NAME, file:PATH or contain ${VAR}' },
    },
  },
} as const;

export const approvalsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    max_hold_seconds: { type: 'integer', minimum: 1, maximum: 3600, default: 300, description: 'longest a held request waits for a reviewer' },
    keep_alive_seconds: { type: 'integer', minimum: 1, maximum: 60, default: 10, description: 'SSE keep-alive comment interval while held' },
    poll_ms: { type: 'integer', minimum: 50, maximum: 10_000, default: 500, description: 'how often a held request re-reads its approval' },
    sweep_interval_seconds: { type: 'integer', minimum: 1, maximum: 3600, default: 30, description: 'how often overdue approvals expire' },
    webhooks: WEBHOOKS_SCHEMA,
  },
} as const;

export const APPROVALS_DEFAULTS: ApprovalsConfig = { max_hold_seconds: 300, keep_alive_seconds: 10, poll_ms: 500, sweep_interval_seconds: 30, webhooks: [] };
