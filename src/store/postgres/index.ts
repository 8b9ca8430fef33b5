import pg from 'pg';
import { errorName, type GatewayLogger } from '../../core/logger.ts';
import type {
  ApiKeyRecord, ApiKeyRepo, CredentialRepo, ExchangeBodies, ExchangeFilter, ExchangeRepo, ExchangeRow, ReplicaRepo, Store, TokenVaultRepo,
} from '../ports.ts';
import { postgresReplicaRepo } from './replicas.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';
import { messagesGet } from './messages.ts';
import { isUnavailable, rethrow } from './unavailable.ts';
import { CHANGES_CHANNEL, PostgresChangeFeed } from './changes.ts';
import { POSTGRES_POOL_DEFAULTS, type PostgresPoolConfig } from '../config-schema.ts';
import { PostgresRecording } from './recording.ts';


/**
 * PostgreSQL store for scale-out: many stateless gateway replicas share one database. Same ports and the same
 * conformance suite as SQLite. Migrations run under an advisory lock so replicas starting together apply each
 * step once. Timestamps are epoch milliseconds (BIGINT) like SQLite, so records compare across engines.
 */
type Row = Record<string, unknown>;
const MIGRATION_LOCK = 7_311_900_001;
const MIGRATION_WAIT_MS = 120_000;

// BIGINT arrives as a string by default; our values are epoch ms (well inside 2^53).
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  /** Recording writes made together share a batch of the recording group commit, applied in call order (recording.ts). */
  readonly appliesCallsMadeTogetherInOrder = true;
  readonly #pool: pg.Pool;
  /** Connections opened and not yet closed (socket ended), and who waits for them to reach zero. */
  #live = 0;
  #drained: (() => void)[] = [];

  readonly changes: PostgresChangeFeed;
  /**
   * This process's recording writes (exchange starts and ends, audit chain appends, session assignments, budget
   * increments), group-committed across exchanges: what arrives while one transaction is in flight goes out in the
   * next (recording.ts).
   */
  readonly recording: PostgresRecording;

  private constructor(pool: pg.Pool, logger: GatewayLogger | undefined, feed: pg.ClientConfig) {
    this.#pool = pool;
    this.recording = new PostgresRecording({ query: (sql, args) => this.#q(sql, args), transaction: (fn) => this.transaction(fn) });
    this.changes = new PostgresChangeFeed(feed, logger);
    // A connection the server ends (restart, failover, pg_terminate_backend, DROP DATABASE … WITH (FORCE)) emits
    // 'error' on its client, and, when idle, on the pool. Unhandled, either would crash the process; the pool
    // already discards the dead client and opens a new one on the next query, so it is only worth a warning.
    // Logged by name/SQLSTATE only: a server message may quote SQL.
    pool.on('error', () => undefined); // the client listener below has logged it
    pool.on('connect', (client) => {
      this.#live++;
      let logged = false;
      client.on('error', (err) => {
        if (logged) return;
        logged = true;
        logger?.warn({ event: 'store_connection_lost', error_name: errorName(err) }, 'a PostgreSQL connection was closed by the server; the pool replaces it');
      });
    });
    pool.on('remove', () => {
      this.#live = Math.max(0, this.#live - 1);
      if (this.#live === 0) for (const ok of this.#drained.splice(0)) ok();
    });
  }

  /**
   * `logger` receives a warning when the server ends a connection (no SQL, no connection string). Every wait on the
   * database is bounded (`pool`, config `store.postgres`): connecting and waiting for a free connection
   * (connect_timeout_ms), each query on the client side (query_timeout_ms: a silent server, e.g. a partition) and
   * on the server (statement_timeout, idle_in_transaction_session_timeout); TCP keepalive finds dead peers of idle
   * connections. A connection whose query failed or timed out is discarded, never reused.
   */
  static async open(url: string, opts: { pool?: Partial<PostgresPoolConfig>; logger?: GatewayLogger | undefined } = {}): Promise<PostgresStore> {
    const c = { ...POSTGRES_POOL_DEFAULTS, ...opts.pool };
    const connection = {
      connectionString: url, connectionTimeoutMillis: c.connect_timeout_ms, keepAlive: true, keepAliveInitialDelayMillis: c.keepalive_initial_delay_ms,
    };
    const pool = new pg.Pool({
      ...connection, max: c.pool_max, idleTimeoutMillis: c.idle_timeout_ms,
      query_timeout: c.query_timeout_ms, statement_timeout: c.statement_timeout_ms, idle_in_transaction_session_timeout: c.idle_in_transaction_timeout_ms,
    });
    const store = new PostgresStore(pool, opts.logger, connection);
    try {
      await store.#migrate();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    return store;
  }

  async #migrate(): Promise<void> {
    const c = await this.#connect();
    try {
      // Waiting for another replica's migrations may take longer than one statement may: poll the lock instead of
      // blocking in a statement the timeouts would cut; a migration step itself runs without statement_timeout.
      const deadline = Date.now() + MIGRATION_WAIT_MS;
      while (!(await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [MIGRATION_LOCK])).rows[0]?.ok) {
        if (Date.now() > deadline) throw new Error('timed out waiting for another replica to finish the schema migrations');
        await new Promise((ok) => setTimeout(ok, 100));
      }
      await c.query('SET statement_timeout = 0');
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const applied = new Set((await c.query<{ id: string }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id));
      for (const m of POSTGRES_MIGRATIONS) {
        if (applied.has(m.id)) continue;
        await c.query('BEGIN');
        try {
          await c.query(m.sql);
          await c.query('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [m.id, Date.now()]);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK');
          throw err;
        }
      }
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      // The session's settings changed: this connection is not returned to the pool.
      c.release(true);
    }
  }

  async #q<T extends Row = Row>(sql: string, args: unknown[] = []): Promise<pg.QueryResult<T>> {
    return this.#pool.query<T>(sql, args).catch(rethrow);
  }

  /** A client of its own (transactions); unavailability surfaces as StoreUnavailableError. */
  #connect(): Promise<pg.PoolClient> {
    return this.#pool.connect().catch(rethrow);
  }

  /**
   * Extension access for module repos (identity, policy, audit, approvals, …): a module writes
   * `postgresFooRepo(store: PostgresStore)` using `query`/`transaction` and appends its migrations to
   * POSTGRES_MIGRATIONS (migrations.ts). Same port and conformance tests as its SQLite twin.
   */
  query<T extends Row = Row>(sql: string, args: unknown[] = []): Promise<pg.QueryResult<T>> {
    return this.#q<T>(sql, args);
  }

  /**
   * Runs `fn` in one transaction on one connection (BEGIN … COMMIT, ROLLBACK on throw). A connection that failed
   * is destroyed rather than returned to the pool: after a timeout its protocol state is unknown.
   */
  async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.#connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      if (isUnavailable(err)) broken = err instanceof Error ? err : new Error('store unavailable');
      else await c.query('ROLLBACK').catch((e: unknown) => void (broken = e instanceof Error ? e : new Error('rollback failed')));
      return rethrow(err);
    } finally {
      c.release(broken);
    }
  }

  readonly apiKeys: ApiKeyRepo = {
    create: async (r) => {
      await this.#q(
        `INSERT INTO api_keys (id, hash, subject, kind, display_name, groups_json, created_at, created_by, expires_at, revoked_at, description)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [r.id, r.hash, r.subject, r.kind, r.displayName, JSON.stringify(r.groups), r.createdAt, r.createdBy, r.expiresAt, r.revokedAt, r.description],
      );
    },
    get: async (id) => (await this.#q('SELECT * FROM api_keys WHERE id = $1', [id])).rows.map(toApiKey)[0],
    list: async () => (await this.#q('SELECT * FROM api_keys ORDER BY created_at')).rows.map(toApiKey),
    // The notification goes out with the commit: other replicas drop the cached key at once (docs/fleet.md).
    revoke: async (id, at) => (await this.#q(
      `WITH r AS (UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id)
       SELECT pg_notify($3, json_build_object('kind', 'key_revoked', 'id', id)::text) FROM r`, [at, id, CHANGES_CHANNEL])).rowCount === 1,
    count: async () => Number((await this.#q<{ n: string }>('SELECT count(*) AS n FROM api_keys')).rows[0]!.n),
  };

  readonly exchanges: ExchangeRepo = {
    start: (r) => this.recording.start(r),
    appendSegment: async (id, seq, sealed) => {
      // Only while the exchange is in progress: once it was ended (recovered by another replica that took this one
      // for dead), its chained end covers the segments it had, and nothing may be added after. FOR SHARE orders
      // this against a concurrent end: the end waits for this insert, or this insert sees the end and adds nothing.
      const res = await this.#q(
        `INSERT INTO exchange_segments (exchange_id, seq, sealed)
         SELECT id, $2, $3 FROM exchanges WHERE id = $1 AND status = 'in_progress' FOR SHARE`, [id, seq, sealed]);
      if (res.rowCount !== 1) throw new Error(`exchange ${id} is not in progress`);
    },
    finish: async (f) => {
      if (!(await this.recording.end(f))) throw new Error(`exchange ${f.id} is not in progress`);
    },
    recordRejected: (s, f) => this.recording.recordRejected(s, f),
    get: async (id) => (await this.#q(`SELECT ${META} FROM exchanges WHERE id = $1`, [id])).rows.map(toExchange)[0],
    bodies: async (id) => {
      const b = (await this.#q('SELECT client_request, upstream_request, response FROM exchanges WHERE id = $1', [id])).rows[0];
      if (!b) return undefined;
      const segs = (await this.#q('SELECT seq, sealed FROM exchange_segments WHERE exchange_id = $1 ORDER BY seq', [id])).rows;
      return { clientRequest: buf(b.client_request), upstreamRequest: buf(b.upstream_request), response: buf(b.response), segments: segs.map((s) => ({ seq: Number(s.seq), sealed: buf(s.sealed)! })) } satisfies ExchangeBodies;
    },
    messages: (scope, refs) => messagesGet(this.#pool, scope, refs).catch(rethrow),
    list: (f) => this.#list(f),
    interrupt: (f) => this.recording.end(f),
  };

  readonly replicas: ReplicaRepo = postgresReplicaRepo(this, META, toExchange);

  async #list(f: ExchangeFilter): Promise<ExchangeRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (clause: string, v: unknown): void => {
      args.push(v);
      where.push(clause.replaceAll('?', `$${args.length}`));
    };
    if (f.subject) add('subject = ?', f.subject);
    if (f.model) add('model = ?', f.model);
    if (typeof f.status === 'string') add('status = ?', f.status);
    else if (f.status?.length) add('status = ANY(?::text[])', f.status);
    // Containment, so the GIN index of migration core/005 serves the group filter (the `?` operator would clash with
    // the placeholders); the finding filter reads the range's rows (docs/api.md, Exchange list filters).
    if (f.group !== undefined) add(`principal_json->'groups' @> ?::jsonb`, JSON.stringify([f.group]));
    if (f.clientTool !== undefined) add('client_tool = ?', f.clientTool);
    if (f.findingType !== undefined) add('(findings_json @> ?::jsonb OR response_findings_json @> ?::jsonb)', JSON.stringify([{ type: f.findingType }]));
    if (f.errorCode) add('error_code = ?', f.errorCode);
    if (f.since !== undefined) add('started_at >= ?', f.since);
    if (f.until !== undefined) add('started_at < ?', f.until);
    if (f.before) add('id < ?', f.before);
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 1000);
    const sql = `SELECT ${META} FROM exchanges ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ${limit}`;
    return (await this.#q(sql, args)).rows.map(toExchange);
  }

  readonly credentials: CredentialRepo = {
    put: async (p, sealed, at, by) => {
      await this.#q(
        `INSERT INTO provider_credentials (provider, sealed, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
        [p, sealed, at, by],
      );
    },
    get: async (p) => {
      const r = (await this.#q('SELECT sealed, updated_at FROM provider_credentials WHERE provider = $1', [p])).rows[0];
      return r ? { sealed: buf(r.sealed)!, updatedAt: Number(r.updated_at) } : undefined;
    },
    list: async () =>
      (await this.#q('SELECT provider, updated_at, updated_by FROM provider_credentials ORDER BY provider')).rows.map((r) => ({
        provider: String(r.provider), updatedAt: Number(r.updated_at), updatedBy: String(r.updated_by),
      })),
  };

  readonly tokenVault: TokenVaultRepo = {
    get: async (conv, now) =>
      (await this.#q('SELECT placeholder, value_mac, sealed FROM token_vault WHERE conversation = $1 AND expires_at > $2', [conv, now])).rows.map((r) => ({
        placeholder: String(r.placeholder), valueMac: String(r.value_mac), sealed: buf(r.sealed)!,
      })),
    put: async (conv, rows, expiresAt, refreshBelow = expiresAt) => {
      const conflicts: string[] = [];
      await this.transaction(async (c) => {
        for (const r of rows) {
          const ins = await c.query(
            `INSERT INTO token_vault (conversation, placeholder, value_mac, sealed, expires_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (conversation, placeholder) DO NOTHING`,
            [conv, r.placeholder, r.valueMac, r.sealed, expiresAt],
          );
          if (ins.rowCount === 0) {
            const prior = await c.query<{ value_mac: string }>('SELECT value_mac FROM token_vault WHERE conversation = $1 AND placeholder = $2', [conv, r.placeholder]);
            if (prior.rows[0]?.value_mac !== r.valueMac) conflicts.push(r.placeholder);
          }
        }
        // Any conflict: nothing of this put is kept.
        if (conflicts.length > 0) throw new VaultConflict();
        await c.query('UPDATE token_vault SET expires_at = $1 WHERE conversation = $2 AND expires_at < $3', [expiresAt, conv, refreshBelow]);
      }).catch((err: unknown) => {
        if (!(err instanceof VaultConflict)) throw err;
      });
      return conflicts;
    },
    purgeExpired: async (now) => (await this.#q('DELETE FROM token_vault WHERE expires_at <= $1', [now])).rowCount ?? 0,
  };

  async ping(): Promise<void> {
    await this.#q('SELECT 1');
  }

  /**
   * Resolves once every connection is closed. `pool.end()` alone resolves when each client has been asked to end,
   * before its socket is gone: a caller that then drops the database or stops the server would terminate live
   * backends under it.
   */
  async close(): Promise<void> {
    await this.changes.close();
    await this.#pool.end();
    if (this.#live > 0) await new Promise<void>((ok) => this.#drained.push(ok));
  }
}

/** Thrown inside the vault transaction to roll it back when a placeholder maps to another value. */
class VaultConflict extends Error {}

const META = `id, started_at, subject, principal_json, endpoint, method, path, model, provider, upstream_model, stream, client_ip, user_agent,
  decision_json, findings_json, status, http_status, error_code, finished_at, timings_json, usage_json, event_count, response_findings_json, forwarded, owner`;

function buf(v: unknown): Buffer | null {
  return Buffer.isBuffer(v) ? v : null;
}

const s = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const sn = (v: unknown): string | null => (v === null || v === undefined ? null : s(v));
const nn = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toApiKey(r: Row): ApiKeyRecord {
  return {
    id: s(r.id), hash: s(r.hash), subject: s(r.subject), kind: s(r.kind) as ApiKeyRecord['kind'], displayName: s(r.display_name),
    groups: r.groups_json as string[], createdAt: Number(r.created_at), createdBy: s(r.created_by), expiresAt: nn(r.expires_at),
    revokedAt: nn(r.revoked_at), description: sn(r.description),
  };
}

function toExchange(r: Row): ExchangeRow {
  return {
    id: s(r.id), startedAt: Number(r.started_at), subject: sn(r.subject), principal: (r.principal_json ?? null) as Record<string, unknown> | null,
    endpoint: s(r.endpoint), method: s(r.method), path: s(r.path), model: sn(r.model), provider: sn(r.provider), upstreamModel: sn(r.upstream_model),
    stream: r.stream === true, clientIp: sn(r.client_ip), userAgent: sn(r.user_agent), decision: (r.decision_json ?? null) as Record<string, unknown> | null,
    findings: (r.findings_json ?? []) as Record<string, unknown>[], status: s(r.status) as ExchangeRow['status'],
    httpStatus: nn(r.http_status) ?? undefined, errorCode: sn(r.error_code), finishedAt: nn(r.finished_at) ?? undefined,
    timings: (r.timings_json ?? undefined) as ExchangeRow['timings'], usage: (r.usage_json ?? undefined) as ExchangeRow['usage'],
    eventCount: nn(r.event_count) ?? undefined, responseFindings: (r.response_findings_json ?? undefined) as ExchangeRow['responseFindings'],
    forwarded: typeof r.forwarded === 'boolean' ? r.forwarded : null,
    owner: sn(r.owner),
  };
}
