/** Config section `store` (docs/configuration.md; the fleet settings in docs/fleet.md). */
export interface PostgresPoolConfig {
  pool_max: number;
  connect_timeout_ms: number;
  query_timeout_ms: number;
  statement_timeout_ms: number;
  idle_in_transaction_timeout_ms: number;
  idle_timeout_ms: number;
  keepalive_initial_delay_ms: number;
}

export interface StoreConfig {
  url: string;
  sqlite?: { synchronous: 'normal' | 'full' };
  postgres: PostgresPoolConfig;
  lease: { heartbeat_interval_ms: number; ttl_ms: number };
}

const ms = (def: number, description?: string) => ({ type: 'integer', minimum: 1, maximum: 86_400_000, default: def, ...(description ? { description } : {}) }) as const;

export const storeConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    url: { type: 'string', default: 'sqlite:./.portcullis/portcullis.db', pattern: '^(sqlite:|postgres(ql)?://)' },
    sqlite: {
      type: 'object',
      additionalProperties: false,
      properties: { synchronous: { enum: ['normal', 'full'], default: 'normal' } },
    },
    postgres: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'PostgreSQL pool: every wait on the database is bounded, so a silent database fails requests closed in seconds',
      properties: {
        pool_max: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
        connect_timeout_ms: ms(3_000, 'opening a connection, and waiting for a free one'),
        query_timeout_ms: ms(5_000, 'client side: a query without an answer in this time fails and its connection is dropped'),
        statement_timeout_ms: ms(5_000, 'server side statement_timeout'),
        idle_in_transaction_timeout_ms: ms(10_000, 'server side idle_in_transaction_session_timeout'),
        idle_timeout_ms: ms(30_000, 'an idle pooled connection is closed after this'),
        keepalive_initial_delay_ms: ms(10_000, 'TCP keepalive on every connection: first probe after this idle time'),
      },
    },
    lease: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'replica lease: a replica whose lease is not renewed within ttl_ms counts as dead and its in-flight exchanges are recovered',
      properties: {
        heartbeat_interval_ms: { type: 'integer', minimum: 100, maximum: 600_000, default: 5_000 },
        ttl_ms: { type: 'integer', minimum: 300, maximum: 3_600_000, default: 20_000 },
      },
    },
  },
} as const;

/** The pool's bounds when the store is opened without config (tests, tools): the schema's defaults. */
export const POSTGRES_POOL_DEFAULTS = Object.fromEntries(
  Object.entries(storeConfigSchema.properties.postgres.properties).map(([k, v]) => [k, v.default]),
) as unknown as PostgresPoolConfig;
