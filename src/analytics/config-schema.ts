/** `analytics:` config section (docs/configuration.md#analytics, docs/analytics.md). */
export interface AnalyticsConfig {
  enabled: boolean;
  roll_interval_ms: number;
  batch_size: number;
  minute_retention_hours: number;
}

export const ANALYTICS_DEFAULTS: AnalyticsConfig = { enabled: true, roll_interval_ms: 1_000, batch_size: 1_000, minute_retention_hours: 48 };

export const analyticsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'usage rollups for the analytics API, CLI and console (docs/analytics.md)',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'keep usage rollups current as exchanges finish' },
    roll_interval_ms: { type: 'integer', minimum: 100, maximum: 600_000, default: 1_000, description: 'how often finished exchanges are folded into the rollups' },
    batch_size: { type: 'integer', minimum: 10, maximum: 100_000, default: 1_000, description: 'exchanges folded per transaction' },
    minute_retention_hours: { type: 'integer', minimum: 1, maximum: 8_760, default: 48, description: 'minute buckets older than this are pruned (hour and day buckets are kept)' },
  },
} as const;
