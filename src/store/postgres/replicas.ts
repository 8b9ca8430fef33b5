import type { ExchangeRow, ReplicaRepo } from '../ports.ts';
import { args, leaseParams, orphanParams, replicaSql } from '../replica-sql.ts';
import type { PostgresStore } from './index.ts';

type Row = Record<string, unknown>;

/** Replica leases on PostgreSQL (src/store/replica-sql.ts); the twin of src/store/sqlite/replicas.ts. */
export function postgresReplicaRepo(store: PostgresStore, exchangeColumns: string, toExchange: (r: Row) => ExchangeRow): ReplicaRepo {
  const SQL = replicaSql('$', exchangeColumns);
  return {
    async heartbeat(l) {
      if ((await store.query(SQL.renew.sql, args(SQL.renew, leaseParams(l)))).rowCount === 1) return false;
      await store.query(SQL.take.sql, args(SQL.take, leaseParams(l)));
      return true;
    },
    async release(id) {
      await store.query('DELETE FROM replica_leases WHERE id = $1', [id]);
    },
    list: async () =>
      (await store.query('SELECT * FROM replica_leases ORDER BY started_at')).rows.map((r) => ({
        id: String(r.id), writer: String(r.writer), startedAt: Number(r.started_at), heartbeatAt: Number(r.heartbeat_at), expiresAt: Number(r.expires_at),
      })),
    orphaned: async (q) =>
      (await store.query(SQL.orphaned.sql, args(SQL.orphaned, orphanParams(q)))).rows.map(toExchange),
    prune: async (q) => (await store.query(SQL.prune.sql, args(SQL.prune, orphanParams(q)))).rowCount ?? 0,
  };
}
