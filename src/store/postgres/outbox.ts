import type { OutboxEvent, OutboxRepo, SinkBacklog, StoredEvent } from '../../events/repo.ts';
import type { Migration } from '../sqlite/migrations.ts';
import type { PostgresStore } from './index.ts';

/**
 * PostgreSQL event outbox, shared by every replica. Two properties matter for at-least-once delivery:
 *  - positions become visible in order: enqueues serialize on a transaction-scoped advisory lock, so a
 *    transaction holding a lower `pos` can never commit after a reader has already moved a cursor past it
 *    (with a bare sequence, concurrent transactions commit out of order and a cursor would skip events);
 *  - one replica delivers per sink at a time: the lease is taken or renewed by one conditional UPDATE, and
 *    expires if its holder dies.
 */
export const POSTGRES_OUTBOX_MIGRATIONS: readonly Migration[] = [
  { id: 'events/001-outbox', sql: `
  CREATE TABLE event_outbox (pos BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, at BIGINT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);
  CREATE TABLE event_cursors (sink TEXT PRIMARY KEY, pos BIGINT NOT NULL, updated_at BIGINT NOT NULL, lease_owner TEXT, lease_until BIGINT NOT NULL DEFAULT 0);
  ` },
];

const ENQUEUE_LOCK = 7_311_900_007;

// Size is max(pos) - min(pos) + 1 (an index lookup, not a scan); sequence gaps (an id conflict consumes a value)
// can only overestimate it, so the full-outbox policy errs on the safe side.
const n = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export function postgresOutboxRepo(store: PostgresStore): OutboxRepo {
  return {
    async enqueue(events: OutboxEvent[], maxBacklog: number | null) {
      if (events.length === 0) return;
      await store.transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [ENQUEUE_LOCK]);
        if (maxBacklog !== null) {
          const r = await c.query<{ hi: string | null; lo: string | null }>('SELECT max(pos) AS hi, min(pos) AS lo FROM event_outbox');
          const size = r.rows[0]?.hi === null ? 0 : n(r.rows[0]?.hi) - n(r.rows[0]?.lo) + 1;
          if (size + events.length > maxBacklog) throw new Error('outbox full');
        }
        await c.query(
          `INSERT INTO event_outbox (id, at, type, body)
           SELECT t.id, t.at, t.type, t.body FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS t(id, at, type, body, ord)
           ORDER BY t.ord ON CONFLICT (id) DO NOTHING`,
          [events.map((e) => e.id), events.map((e) => e.at), events.map((e) => e.type), events.map((e) => e.body)],
        );
      });
    },

    async fetch(o): Promise<StoredEvent[] | null> {
      await store.query('INSERT INTO event_cursors (sink, pos, updated_at) VALUES ($1, 0, $2) ON CONFLICT (sink) DO NOTHING', [o.sink, o.now]);
      const lease = await store.query<{ pos: string }>(
        `UPDATE event_cursors SET lease_owner = $2, lease_until = $3, updated_at = $4
         WHERE sink = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until <= $4) RETURNING pos`,
        [o.sink, o.owner, o.now + o.leaseMs, o.now],
      );
      if (lease.rowCount === 0) return null;
      const rows = await store.query('SELECT pos, id, at, type, body FROM event_outbox WHERE pos > $1 ORDER BY pos LIMIT $2', [n(lease.rows[0]!.pos), o.limit]);
      return rows.rows.map((r: Record<string, unknown>) => ({ pos: n(r.pos), id: String(r.id), at: n(r.at), type: String(r.type), body: String(r.body) }));
    },

    async ack(sink, pos, now) {
      await store.query('UPDATE event_cursors SET pos = GREATEST(pos, $2), updated_at = $3 WHERE sink = $1', [sink, pos, now]);
    },

    async backlog(sinks): Promise<SinkBacklog[]> {
      const out: SinkBacklog[] = [];
      for (const sink of sinks) {
        const c = await store.query<{ pos: string }>('SELECT pos FROM event_cursors WHERE sink = $1', [sink]);
        const pos = n(c.rows[0]?.pos);
        const r = await store.query<{ n: string; oldest: string | null }>('SELECT count(*) AS n, min(at) AS oldest FROM event_outbox WHERE pos > $1', [pos]);
        out.push({ sink, cursor: pos, backlog: n(r.rows[0]?.n), oldestAt: r.rows[0]?.oldest === null || r.rows[0]?.oldest === undefined ? null : Number(r.rows[0].oldest) });
      }
      return out;
    },

    async prune(sinks, activeSince) {
      if (sinks.length === 0) return 0;
      // A sink without a cursor row has delivered nothing: min over a missing row must count as 0.
      const r = await store.query<{ m: string | null }>(
        `SELECT least(
           (SELECT min(coalesce(c.pos, 0)) FROM unnest($1::text[]) AS s(sink) LEFT JOIN event_cursors c ON c.sink = s.sink),
           (SELECT min(pos) FROM event_cursors WHERE updated_at >= $2)) AS m`, [sinks, activeSince],
      );
      return (await store.query('DELETE FROM event_outbox WHERE pos <= $1', [n(r.rows[0]?.m)])).rowCount ?? 0;
    },

    async size() {
      const r = await store.query<{ hi: string | null; lo: string | null }>('SELECT max(pos) AS hi, min(pos) AS lo FROM event_outbox');
      return r.rows[0]?.hi === null ? 0 : n(r.rows[0]?.hi) - n(r.rows[0]?.lo) + 1;
    },
  };
}
