import pg from 'pg';
import { errorName, type GatewayLogger } from '../../core/logger.ts';
import type { ChangeFeed, StoreChange } from '../ports.ts';

/** The channel every replica LISTENs on (docs/fleet.md, "What every replica sees, and how fast"). */
export const CHANGES_CHANNEL = 'portcullis_changes';
const KINDS = new Set<StoreChange['kind']>(['key_revoked', 'session_revoked', 'policy_activated', 'approval_decided']);

/**
 * `pg_notify` as part of the caller's statement or transaction: PostgreSQL delivers it only when that commits.
 * https://www.postgresql.org/docs/current/sql-notify.html
 */
export async function notifyChange(db: Pick<pg.PoolClient, 'query'>, change: StoreChange): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, JSON.stringify(change)]);
}

/**
 * The push half of cross-replica propagation: one dedicated connection (outside the pool) that LISTENs on
 * CHANGES_CHANNEL and hands each notification to the subscribers. It is opened on the first subscription and
 * re-opened after any loss (backoff 250 ms → 5 s); while it is down, the subscribers' own polling is the bound.
 */
export class PostgresChangeFeed implements ChangeFeed {
  readonly #config: pg.ClientConfig;
  readonly #logger: GatewayLogger | undefined;
  readonly #subscribers = new Set<(c: StoreChange) => void>();
  #client: pg.Client | undefined;
  #closed = false;
  #retryMs = 250;
  #timer: NodeJS.Timeout | undefined;

  constructor(config: pg.ClientConfig, logger: GatewayLogger | undefined) {
    this.#config = config;
    this.#logger = logger;
  }

  subscribe(fn: (c: StoreChange) => void): () => void {
    this.#subscribers.add(fn);
    if (!this.#client && !this.#timer) void this.#connect();
    return () => void this.#subscribers.delete(fn);
  }

  async #connect(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    const client = new pg.Client(this.#config);
    this.#client = client;
    const lost = (err?: Error): void => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#logger?.warn({ event: 'store_change_feed_lost', error_name: err ? errorName(err) : 'end' }, 'lost the PostgreSQL change notifications; polling covers until they are back');
      this.#timer = setTimeout(() => void this.#connect(), this.#retryMs);
      this.#timer.unref();
      this.#retryMs = Math.min(this.#retryMs * 2, 5_000);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => this.#dispatch(n.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      this.#retryMs = 250;
    } catch (err) {
      lost(err instanceof Error ? err : new Error('listen failed'));
    }
  }

  #dispatch(payload: string | undefined): void {
    let change: StoreChange;
    try {
      const v = JSON.parse(payload ?? '') as { kind?: unknown; id?: unknown };
      if (!KINDS.has(v.kind as StoreChange['kind']) || typeof v.id !== 'string') return;
      change = { kind: v.kind as StoreChange['kind'], id: v.id };
    } catch {
      return;
    }
    for (const fn of this.#subscribers) {
      try {
        fn(change);
      } catch {
        /* a subscriber's failure must not stop the others; each has its polling fallback */
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const c = this.#client;
    this.#client = undefined;
    await c?.end().catch(() => undefined);
  }
}
