import type pg from 'pg';
import { HELD_PROMPT_DONE_STATES_SQL } from '../../approvals/rows.ts';
import { sha256Hex, type AuditEntry, type Checkpoint } from '../../audit/chain.ts';
import type { AuditRepo, PurgeResult, SessionFilter, SessionRow, StoredBodies } from '../../audit/repo.ts';
import type { Migration } from '../sqlite/migrations.ts';
import { purgeMessages, storedMessages } from './messages.ts';
import type { PostgresStore } from './index.ts';

/**
 * The audit trail on PostgreSQL, twin of src/store/sqlite/audit.ts. Replicas share the database; each has its own
 * chain (writer id). Appends and session assignments go out in the store's recording group commit (recording.ts),
 * with the exchange writes they are about: entries of a writer are chained in call order from its head (read
 * under the writer's advisory lock, then cached by the process), and (writer, seq) is the primary key, so two
 * processes appending as the same writer can never fork the chain. Payloads are stored as the exact JSON text (not
 * JSONB, which would reorder keys) so what is verified is byte for byte what was written.
 */
export const AUDIT_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'audit/001-chain', sql: `
  CREATE TABLE audit_entries (
    writer TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT NULL, kind TEXT NOT NULL, subject TEXT, ref_id TEXT,
    payload_json TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (writer, seq)
  );
  CREATE INDEX audit_entries_at ON audit_entries(at);
  CREATE TABLE audit_checkpoints (
    writer TEXT NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, at BIGINT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL,
    PRIMARY KEY (writer, seq)
  );
  CREATE TABLE audit_keys (key_id TEXT PRIMARY KEY, public_key TEXT NOT NULL, sealed_private BYTEA NOT NULL, created_at BIGINT NOT NULL);
  CREATE TABLE audit_tombstones (exchange_id TEXT PRIMARY KEY, purged_at BIGINT NOT NULL);
  CREATE TABLE audit_sessions (
    id TEXT PRIMARY KEY, subject TEXT, client TEXT NOT NULL, session_key TEXT, source TEXT NOT NULL,
    first_at BIGINT NOT NULL, last_at BIGINT NOT NULL, exchange_count INTEGER NOT NULL
  );
  CREATE INDEX audit_sessions_implicit ON audit_sessions(subject, client, last_at);
  CREATE INDEX audit_sessions_key ON audit_sessions(subject, session_key);
  CREATE INDEX audit_sessions_last ON audit_sessions(last_at);
  CREATE TABLE audit_session_exchanges (exchange_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, at BIGINT NOT NULL);
  CREATE INDEX audit_session_exchanges_session ON audit_session_exchanges(session_id, at);
  ` },
  // entriesByRef: only the kinds looked up by ref (REF_INDEXED_KINDS), so appending exchange entries costs nothing more.
  { id: 'audit/003-ref-index', sql: `CREATE INDEX audit_entries_ref ON audit_entries(ref_id, at) WHERE kind = 'policy.activated'` },
  // Session assignments of a recording batch in one call (recording.ts), in order: each finds the session its exchange
  // continues (explicit key, or same identity + client within the gap) or opens one, and links the exchange. A
  // PL/pgSQL statement sees what the previous one wrote, so a later assignment continues a session an earlier one
  // in the batch opened; the caller holds the identities' advisory locks.
  { id: 'audit/004-assign-sessions-fn', sql: `
  CREATE FUNCTION portcullis_assign_sessions(p_exchange TEXT[], p_at BIGINT[], p_subject TEXT[], p_client TEXT[], p_key TEXT[],
      p_source TEXT[], p_gap BIGINT[], p_fresh TEXT[]) RETURNS TEXT[] LANGUAGE plpgsql AS $fn$
  DECLARE
    out TEXT[] := '{}';
    sid TEXT;
  BEGIN
    FOR i IN 1 .. coalesce(array_length(p_exchange, 1), 0) LOOP
      IF p_key[i] IS NOT NULL THEN
        SELECT id INTO sid FROM audit_sessions WHERE subject IS NOT DISTINCT FROM p_subject[i] AND session_key = p_key[i] ORDER BY last_at DESC LIMIT 1;
      ELSE
        SELECT id INTO sid FROM audit_sessions WHERE subject IS NOT DISTINCT FROM p_subject[i] AND client = p_client[i] AND session_key IS NULL
          AND last_at >= p_at[i] - p_gap[i] ORDER BY last_at DESC LIMIT 1;
      END IF;
      IF FOUND THEN
        UPDATE audit_sessions SET last_at = greatest(last_at, p_at[i]), exchange_count = exchange_count + 1 WHERE id = sid;
      ELSE
        sid := p_fresh[i];
        INSERT INTO audit_sessions (id, subject, client, session_key, source, first_at, last_at, exchange_count)
          VALUES (sid, p_subject[i], p_client[i], p_key[i], p_source[i], p_at[i], p_at[i], 1);
      END IF;
      INSERT INTO audit_session_exchanges (exchange_id, session_id, at) VALUES (p_exchange[i], sid, p_at[i]) ON CONFLICT DO NOTHING;
      out := out || sid;
    END LOOP;
    RETURN out;
  END
  $fn$` },
];

type Row = Record<string, unknown>;
type Db = Pick<pg.PoolClient, 'query'>;
const s = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : JSON.stringify(v));
const sn = (v: unknown): string | null => (v === null || v === undefined ? null : s(v));
const digest = (v: unknown): string | null => (Buffer.isBuffer(v) ? sha256Hex(v) : null);

function toEntry(r: Row): AuditEntry {
  return {
    writer: s(r.writer), seq: Number(r.seq), at: Number(r.at), kind: s(r.kind), subject: sn(r.subject), refId: sn(r.ref_id),
    payload: JSON.parse(s(r.payload_json)) as AuditEntry['payload'], prev: s(r.prev_hash), hash: s(r.hash),
  };
}

function toSession(r: Row): SessionRow {
  return { id: s(r.id), subject: sn(r.subject), client: s(r.client), source: s(r.source), firstAt: Number(r.first_at), lastAt: Number(r.last_at), exchangeCount: Number(r.exchange_count) };
}

const toCheckpoint = (r: Row): Checkpoint => ({ writer: s(r.writer), seq: Number(r.seq), hash: s(r.hash), at: Number(r.at), keyId: s(r.key_id), signature: s(r.signature) });

type Q = (sql: string, args: unknown[]) => Promise<{ rows: Row[] }>;

async function segmentDigests(query: Q, id: string): Promise<{ seq: number; sha256: string }[]> {
  const segs = await query('SELECT seq, sealed FROM exchange_segments WHERE exchange_id = $1 ORDER BY seq', [id]);
  return segs.rows.map((x: Row) => ({ seq: Number(x.seq), sha256: digest(x.sealed) ?? '' }));
}

async function purge(c: Db, o: { bodiesBefore: number | null; metadataBefore: number | null; now: number }): Promise<PurgeResult> {
  const r: PurgeResult = { bodiesPurged: 0, exchangesDeleted: 0, heldPromptsPurged: 0, tombstones: 0 };
  if (o.bodiesBefore !== null) {
    const where = `started_at < $1 AND status != 'in_progress' AND (client_request IS NOT NULL OR upstream_request IS NOT NULL OR response IS NOT NULL
      OR EXISTS (SELECT 1 FROM exchange_segments g WHERE g.exchange_id = exchanges.id))`;
    r.tombstones += (await c.query(`INSERT INTO audit_tombstones (exchange_id, purged_at) SELECT id, $2 FROM exchanges WHERE ${where} ON CONFLICT DO NOTHING`, [o.bodiesBefore, o.now])).rowCount ?? 0;
    r.bodiesPurged = (await c.query(`UPDATE exchanges SET client_request = NULL, upstream_request = NULL, response = NULL WHERE ${where}`, [o.bodiesBefore])).rowCount ?? 0;
    await c.query('DELETE FROM exchange_segments WHERE exchange_id IN (SELECT exchange_id FROM audit_tombstones WHERE purged_at = $1)', [o.now]);
    r.heldPromptsPurged = (await c.query(`UPDATE approvals SET sealed_request = NULL WHERE sealed_request IS NOT NULL AND state IN (${HELD_PROMPT_DONE_STATES_SQL}) AND updated_at < $1`, [o.bodiesBefore])).rowCount ?? 0;
  }
  const messagesBefore = o.bodiesBefore ?? o.metadataBefore;
  const messagesPurged = messagesBefore === null ? 0 : await purgeMessages(c, messagesBefore, o.now);
  if (o.metadataBefore !== null) {
    const old = "SELECT id FROM exchanges WHERE started_at < $1 AND status != 'in_progress'";
    r.tombstones += (await c.query(`INSERT INTO audit_tombstones (exchange_id, purged_at) SELECT id, $2 FROM (${old}) o ON CONFLICT DO NOTHING`, [o.metadataBefore, o.now])).rowCount ?? 0;
    await c.query(`DELETE FROM exchange_segments WHERE exchange_id IN (${old})`, [o.metadataBefore]);
    await c.query(`DELETE FROM audit_session_exchanges WHERE exchange_id IN (${old})`, [o.metadataBefore]);
    await c.query('DELETE FROM audit_sessions WHERE last_at < $1', [o.metadataBefore]);
    r.exchangesDeleted = (await c.query(`DELETE FROM exchanges WHERE started_at < $1 AND status != 'in_progress'`, [o.metadataBefore])).rowCount ?? 0;
  }
  if (messagesPurged > 0) r.messagesPurged = messagesPurged;
  return r;
}

async function sessions(store: PostgresStore, f: SessionFilter): Promise<SessionRow[]> {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (clause: string, v: unknown): void => {
    args.push(v);
    where.push(clause.replace('?', `$${args.length}`));
  };
  if (f.subject) add('subject = ?', f.subject);
  if (f.since !== undefined) add('last_at >= ?', f.since);
  if (f.until !== undefined) add('first_at < ?', f.until);
  const limit = Math.min(Math.max(f.limit ?? 50, 1), 1000);
  return (await store.query(`SELECT * FROM audit_sessions ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY last_at DESC LIMIT ${limit}`, args)).rows.map(toSession);
}

async function storedBodies(store: PostgresStore, ids: string[]): Promise<StoredBodies[]> {
  const out: StoredBodies[] = [];
  for (const id of ids) {
    const row = (await store.query('SELECT client_request, upstream_request, response FROM exchanges WHERE id = $1', [id])).rows[0];
    const tomb = (await store.query('SELECT purged_at FROM audit_tombstones WHERE exchange_id = $1', [id])).rows[0];
    out.push({
      exchangeId: id, exists: Boolean(row), purgedAt: tomb ? Number(tomb.purged_at) : null,
      digests: {
        client_request: digest(row?.client_request), upstream_request: digest(row?.upstream_request), response: digest(row?.response),
        segments: row ? await segmentDigests((sql, a) => store.query(sql, a), id) : [],
      },
    });
  }
  return out;
}

/** Last entry per writer by skip-scan over the (writer, seq) primary key, not a scan of the whole trail. */
const HEADS_SQL = `WITH RECURSIVE w(writer) AS (
    (SELECT writer FROM audit_entries ORDER BY writer LIMIT 1)
    UNION ALL SELECT (SELECT e.writer FROM audit_entries e WHERE e.writer > w.writer ORDER BY e.writer LIMIT 1) FROM w WHERE w.writer IS NOT NULL
  )
  SELECT h.writer, h.seq, h.hash, h.at FROM w
  CROSS JOIN LATERAL (SELECT writer, seq, hash, at FROM audit_entries e WHERE e.writer = w.writer ORDER BY seq DESC LIMIT 1) h
  ORDER BY h.writer`;

export function postgresAuditRepo(store: PostgresStore): AuditRepo {
  const q = async (sql: string, args: unknown[] = []): Promise<Row[]> => (await store.query(sql, args)).rows;
  return {
    // Appends, like the exchange writes they are about, go out in the store's recording group commit.
    append: (writer, input) => store.recording.append(writer, input),
    heads: async () => (await q(HEADS_SQL))
      .map((r) => ({ writer: s(r.writer), seq: Number(r.seq), hash: s(r.hash), at: Number(r.at) })),
    entries: async (x) => (await q('SELECT * FROM audit_entries WHERE writer = $1 AND seq > $2 ORDER BY seq LIMIT $3', [x.writer, x.afterSeq, x.limit])).map(toEntry),
    entriesBetween: async (since, until) => (await q('SELECT * FROM audit_entries WHERE at >= $1 AND at < $2 ORDER BY writer, seq', [since, until])).map(toEntry),
    entriesByRef: async (kind, refId, limit) =>
      (await q(`SELECT * FROM audit_entries WHERE kind = 'policy.activated' AND kind = $1 AND ref_id = $2 ORDER BY at DESC, seq DESC LIMIT $3`, [kind, refId, limit])).map(toEntry),
    entry: async (writer, seq) => (await q('SELECT * FROM audit_entries WHERE writer = $1 AND seq = $2', [writer, seq])).map(toEntry)[0],
    writers: async () => (await q('SELECT writer FROM audit_entries UNION SELECT writer FROM audit_checkpoints ORDER BY 1')).map((r) => s(r.writer)),
    putCheckpoint: async (c) => {
      await q(`INSERT INTO audit_checkpoints (writer, seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (writer, seq) DO UPDATE SET hash = excluded.hash, at = excluded.at, key_id = excluded.key_id, signature = excluded.signature`, [c.writer, c.seq, c.hash, c.at, c.keyId, c.signature]);
    },
    checkpoints: async (writer) => (writer ? await q('SELECT * FROM audit_checkpoints WHERE writer = $1 ORDER BY seq', [writer]) : await q('SELECT * FROM audit_checkpoints ORDER BY writer, seq')).map(toCheckpoint),
    putKey: async (k) => {
      await q('INSERT INTO audit_keys (key_id, public_key, sealed_private, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [k.keyId, k.publicKeyPem, k.sealedPrivate, k.createdAt]);
    },
    keys: async () => (await q('SELECT * FROM audit_keys ORDER BY created_at, key_id'))
      .map((r) => ({ keyId: s(r.key_id), publicKeyPem: s(r.public_key), sealedPrivate: r.sealed_private as Buffer, createdAt: Number(r.created_at) })),
    storedBodies: (ids) => storedBodies(store, ids),
    storedMessages: async (items) => (await storedMessages(store, items))
      .map((m) => ({ scope: m.scope, ref: m.ref, sha256: m.sealed ? sha256Hex(m.sealed) : null, purgedAt: m.purgedAt })),
    purge: (o) => store.transaction((c) => purge(c, o)),
    assignSession: (a) => store.recording.assignSession(a),
    sessions: (f) => sessions(store, f),
    session: async (id) => (await q('SELECT * FROM audit_sessions WHERE id = $1', [id])).map(toSession)[0],
    sessionExchanges: async (id) => (await q('SELECT exchange_id FROM audit_session_exchanges WHERE session_id = $1 ORDER BY at, exchange_id', [id])).map((r) => s(r.exchange_id)),
  };
}
