/**
 * The `audit` config section (docs/audit.md and docs/configuration.md document every key). Merged into the gateway
 * schema by one property line in src/config/schema.ts.
 */
export interface AuditConfig {
  /** This replica's chain id; default: the host name. Unique per replica, stable across restarts. */
  writer_id?: string;
  checkpoint_interval_ms: number;
  checkpoint_every_entries: number;
  session_gap_ms: number;
  retention: {
    /** Purge recorded bodies (prompts, answers, stream segments) of exchanges older than this, and held prompts of approvals done before then; 0 = keep forever. */
    bodies_days: number;
    /** Delete exchange rows and sessions older than this; 0 = keep forever. The chain itself is never purged. */
    metadata_days: number;
    purge_interval_ms: number;
  };
}

const DAY_LIMIT = 36_500;

export const auditConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    writer_id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$', description: "this replica's audit chain id (default: <host name>-<pid>)" },
    checkpoint_interval_ms: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 60_000, description: 'sign a checkpoint of every chain this often (0 = only on shutdown)' },
    checkpoint_every_entries: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 1000, description: '...and after this many appends' },
    session_gap_ms: { type: 'integer', minimum: 1000, maximum: 86_400_000, default: 1_800_000, description: 'idle time that ends an implicit session' },
    retention: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        bodies_days: { type: 'integer', minimum: 0, maximum: DAY_LIMIT, default: 0, description: 'purge recorded bodies after N days (0 = never)' },
        metadata_days: { type: 'integer', minimum: 0, maximum: DAY_LIMIT, default: 0, description: 'delete exchange metadata after N days (0 = never)' },
        purge_interval_ms: { type: 'integer', minimum: 60_000, maximum: 86_400_000, default: 3_600_000, description: 'how often the retention job runs' },
      },
    },
  },
} as const;
