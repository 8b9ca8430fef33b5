import type { OrphanQuery, ReplicaLease } from './ports.ts';

/**
 * Replica leases (src/fleet/replica.ts), the same schema on SQLite and PostgreSQL: each gateway process renews
 * its lease by heartbeat and stamps the exchanges it serves with its lease id (`exchanges.owner`), so a process
 * touches only what it owns and a dead one's in-flight exchanges can be found by whoever is alive. The partial
 * index keeps the orphan search to the rows still in progress.
 */
export const REPLICA_LEASES_SQL = `
  ALTER TABLE exchanges ADD COLUMN owner TEXT;
  CREATE INDEX exchanges_in_flight ON exchanges(owner) WHERE status = 'in_progress';
  CREATE TABLE replica_leases (
    id TEXT PRIMARY KEY, writer TEXT NOT NULL, started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL, expires_at BIGINT NOT NULL
  );
`;

/**
 * In-progress exchanges nobody alive owns, oldest first. Named parameters: :self, :others_dead (0/1), :now,
 * :unowned_before, :limit — each engine binds them its own way (see replicaSql).
 */
const ORPHANED = (columns: string): string => `SELECT ${columns} FROM exchanges e WHERE e.status = 'in_progress' AND (
    (e.owner IS NULL AND e.started_at < :unowned_before)
    OR (e.owner IS NOT NULL AND e.owner <> :self AND (:others_dead = 1 OR NOT EXISTS (
      SELECT 1 FROM replica_leases l WHERE l.id = e.owner AND l.expires_at > :now))))
  ORDER BY e.started_at LIMIT :limit`;

/** Dead leases whose exchanges have all been ended. */
const PRUNE = `DELETE FROM replica_leases WHERE id <> :self AND (:others_dead = 1 OR expires_at <= :now)
  AND NOT EXISTS (SELECT 1 FROM exchanges e WHERE e.status = 'in_progress' AND e.owner = replica_leases.id)`;

const RENEW = 'UPDATE replica_leases SET heartbeat_at = :heartbeat_at, expires_at = :expires_at WHERE id = :id';
const TAKE = `INSERT INTO replica_leases (id, writer, started_at, heartbeat_at, expires_at) VALUES (:id, :writer, :started_at, :heartbeat_at, :expires_at)
  ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at`;

/** Parameters of `renew` and `take`. */
export const leaseParams = (l: ReplicaLease): Record<string, number | string> => ({
  id: l.id, writer: l.writer, started_at: l.startedAt, heartbeat_at: l.heartbeatAt, expires_at: l.expiresAt,
});

/** Parameters of `orphaned` (with `limit` and `unowned_before` when given) and `prune`. */
export const orphanParams = (q: Omit<OrphanQuery, 'limit' | 'unownedBefore'> & Partial<OrphanQuery>): Record<string, number | string> => ({
  self: q.self, others_dead: q.othersDead ? 1 : 0, now: q.now,
  ...(q.limit !== undefined ? { limit: q.limit } : {}), ...(q.unownedBefore !== undefined ? { unowned_before: q.unownedBefore } : {}),
});

export interface BoundSql {
  sql: string;
  names: string[];
}

/** Rewrites `:name` parameters into the engine's placeholders (`?` or `$n`), keeping the order of the names. */
function bind(sql: string, style: '?' | '$'): BoundSql {
  const names: string[] = [];
  const out = sql.replace(/:([a-z_]+)/g, (_m, name: string) => {
    if (style === '?') {
      names.push(name);
      return '?';
    }
    let i = names.indexOf(name);
    if (i === -1) i = names.push(name) - 1;
    return `$${i + 1}`;
  });
  return { sql: out, names };
}

export function replicaSql(style: '?' | '$', exchangeColumns: string): Record<'orphaned' | 'prune' | 'renew' | 'take', BoundSql> {
  return { orphaned: bind(ORPHANED(exchangeColumns), style), prune: bind(PRUNE, style), renew: bind(RENEW, style), take: bind(TAKE, style) };
}

/** The values of a bound statement's parameters, in placeholder order. */
export function args(b: BoundSql, values: Record<string, string | number | null>): (string | number | null)[] {
  return b.names.map((n) => {
    const v = values[n];
    if (v === undefined) throw new TypeError(`missing SQL parameter ${n}`);
    return v;
  });
}
