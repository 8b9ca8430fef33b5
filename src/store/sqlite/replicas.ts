import type { SQLOutputValue } from 'node:sqlite';
import type { ExchangeRow, OrphanQuery, ReplicaLease, ReplicaRepo } from '../ports.ts';
import { args, leaseParams, orphanParams, replicaSql } from '../replica-sql.ts';
import { META_COLUMNS, toExchange, type SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';

const SQL = replicaSql('?', META_COLUMNS);
type Row = Record<string, SQLOutputValue>;

/** Worker side of the replica leases (src/store/replica-sql.ts). */
export function replicasSqlite(core: SqliteCore): Record<string, (...a: never[]) => unknown> {
  return {
    'replicas.heartbeat': (l: ReplicaLease): boolean => {
      if (core.stmt(SQL.renew.sql).run(...args(SQL.renew, leaseParams(l))).changes === 1) return false;
      core.stmt(SQL.take.sql).run(...args(SQL.take, leaseParams(l)));
      return true;
    },
    'replicas.release': (id: string): void => void core.stmt('DELETE FROM replica_leases WHERE id = ?').run(id),
    'replicas.list': (): ReplicaLease[] =>
      (core.stmt('SELECT * FROM replica_leases ORDER BY started_at').all() as Row[]).map((r) => ({
        id: String(r.id), writer: String(r.writer), startedAt: Number(r.started_at), heartbeatAt: Number(r.heartbeat_at), expiresAt: Number(r.expires_at),
      })),
    'replicas.orphaned': (q: OrphanQuery): ExchangeRow[] =>
      (core.stmt(SQL.orphaned.sql).all(...args(SQL.orphaned, orphanParams(q))) as Row[]).map(toExchange),
    'replicas.prune': (q: Omit<OrphanQuery, 'limit' | 'unownedBefore'>): number => Number(core.stmt(SQL.prune.sql).run(...args(SQL.prune, orphanParams(q))).changes),
  };
}

/** Main-thread side: the typed port over the worker's methods. */
export function sqliteReplicaRepo(store: SqliteStore): ReplicaRepo {
  return {
    heartbeat: (l) => store.callExt('replicas.heartbeat', l),
    release: (id) => store.callExt('replicas.release', id),
    list: () => store.callExt('replicas.list'),
    orphaned: (q) => store.callExt('replicas.orphaned', q),
    prune: (q) => store.callExt('replicas.prune', q),
  };
}
