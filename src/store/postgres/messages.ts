import { STALE_MESSAGE_REFS, type ExchangeStart, type StoredMessage } from '../ports.ts';
import type { Migration } from '../sqlite/migrations.ts';

/** Anything that runs a query: the pool, a transaction's client, the store. */
type Db = { query: (sql: string, args: unknown[]) => Promise<{ rows: unknown[]; rowCount: number | null }> };

/** Deduplicated request messages on PostgreSQL, twin of src/store/sqlite/messages.ts. */
export const DEDUP_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'dedup/001-messages', sql: `
  CREATE TABLE exchange_messages (scope TEXT NOT NULL, ref TEXT NOT NULL, sealed BYTEA NOT NULL, PRIMARY KEY (scope, ref));
  CREATE TABLE exchange_message_scopes (scope TEXT PRIMARY KEY, last_at BIGINT NOT NULL);
  CREATE INDEX exchange_message_scopes_last ON exchange_message_scopes(last_at);
  CREATE TABLE exchange_message_tombstones (scope TEXT NOT NULL, ref TEXT NOT NULL, purged_at BIGINT NOT NULL, PRIMARY KEY (scope, ref));
  ` },
];

const EXCHANGE_COLUMNS = `id, started_at, subject, principal_json, endpoint, method, path, model, provider, upstream_model, stream,
  client_ip, user_agent, decision_json, findings_json, status, client_request, upstream_request, owner, client_tool`;

/**
 * An exchange start with its messages in one statement (atomic, one round trip): the conversation's date, its new
 * messages, then the exchange row — which is not inserted when the start reuses refs of a conversation the store did
 * not hold (the row just created), and the caller then gets the stale-refs error.
 */
export async function startWithMessages(db: Db, values: unknown[], r: ExchangeStart): Promise<void> {
  const m = r.messages!;
  const n = values.length;
  const res = await db.query(
    `WITH s AS (
       INSERT INTO exchange_message_scopes (scope, last_at) VALUES ($${n + 1}, $2::bigint)
       ON CONFLICT (scope) DO UPDATE SET last_at = greatest(exchange_message_scopes.last_at, excluded.last_at)
       RETURNING (xmax = 0) AS created
     ), m AS (
       INSERT INTO exchange_messages (scope, ref, sealed) SELECT $${n + 1}, u.r, u.b FROM unnest($${n + 2}::text[], $${n + 3}::bytea[]) AS u(r, b)
       ON CONFLICT DO NOTHING
     )
     INSERT INTO exchanges (${EXCHANGE_COLUMNS})
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'in_progress', $16, $17, $18, $19 FROM s WHERE NOT (s.created AND $${n + 4}::int > 0)`,
    [...values, m.scope, m.added.map((a) => a.ref), m.added.map((a) => a.sealed), m.reused],
  );
  if (res.rowCount !== 1) throw new Error(`${STALE_MESSAGE_REFS}: conversation ${m.scope} has no stored messages`);
}

export async function messagesGet(db: Db, scope: string, refs: string[]): Promise<StoredMessage[]> {
  const rows = (await db.query('SELECT ref, sealed FROM exchange_messages WHERE scope = $1 AND ref = ANY($2::text[])', [scope, refs])).rows as { ref: string; sealed: Buffer }[];
  return rows.map((r) => ({ ref: r.ref, sealed: r.sealed }));
}

/** As purgeMessages in src/store/sqlite/messages.ts, inside the retention transaction. */
export async function purgeMessages(c: Db, before: number, now: number): Promise<number> {
  const open = (await c.query(`SELECT min(started_at) AS m FROM exchanges WHERE status = 'in_progress'`, [])).rows[0] as { m: string | null } | undefined;
  const cutoff = open?.m !== null && open?.m !== undefined ? Math.min(before, Number(open.m)) : before;
  // Lock the conversations being removed: a start that arrives meanwhile waits, then finds its scope gone.
  await c.query('SELECT scope FROM exchange_message_scopes WHERE last_at < $1 FOR UPDATE', [cutoff]);
  await c.query(`INSERT INTO exchange_message_tombstones (scope, ref, purged_at)
    SELECT m.scope, m.ref, $2 FROM exchange_messages m JOIN exchange_message_scopes s ON s.scope = m.scope WHERE s.last_at < $1 ON CONFLICT DO NOTHING`, [cutoff, now]);
  const n = (await c.query('DELETE FROM exchange_messages WHERE scope IN (SELECT scope FROM exchange_message_scopes WHERE last_at < $1)', [cutoff])).rowCount ?? 0;
  await c.query('DELETE FROM exchange_message_scopes WHERE last_at < $1', [cutoff]);
  return n;
}

export async function storedMessages(db: Db, items: { scope: string; ref: string }[]): Promise<{ scope: string; ref: string; sealed: Buffer | null; purgedAt: number | null }[]> {
  if (items.length === 0) return [];
  const scopes = items.map((i) => i.scope);
  const refs = items.map((i) => i.ref);
  const rows = (await db.query(
    `SELECT u.scope, u.ref, m.sealed, t.purged_at FROM unnest($1::text[], $2::text[]) AS u(scope, ref)
     LEFT JOIN exchange_messages m ON m.scope = u.scope AND m.ref = u.ref
     LEFT JOIN exchange_message_tombstones t ON t.scope = u.scope AND t.ref = u.ref`, [scopes, refs])).rows as { scope: string; ref: string; sealed: Buffer | null; purged_at: string | null }[];
  return rows.map((r) => ({ scope: r.scope, ref: r.ref, sealed: r.sealed, purgedAt: r.purged_at === null ? null : Number(r.purged_at) }));
}
