import type { Migration } from '../sqlite/migrations.ts';
import type { PostgresStore } from './index.ts';
import { CHANGES_CHANNEL } from './changes.ts';
import type { IdentityRepo, SessionRecord } from '../../identity/repo.ts';

/** Identity tables on PostgreSQL: the twin of src/store/sqlite/identity.ts (sessions, login flows, SAML replay cache). */
export const IDENTITY_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'identity/001-sessions', sql: `
  CREATE TABLE identity_sessions (
    id TEXT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, display_name TEXT NOT NULL, groups_json JSONB NOT NULL,
    claims_json JSONB NOT NULL, source TEXT NOT NULL, auth_method TEXT NOT NULL, access_hash TEXT NOT NULL,
    access_expires_at BIGINT NOT NULL, prev_access_hash TEXT, prev_access_expires_at BIGINT, refresh_hash TEXT,
    idp_refresh BYTEA, created_at BIGINT NOT NULL, refreshed_at BIGINT, expires_at BIGINT NOT NULL, revoked_at BIGINT,
    revoked_reason TEXT
  );
  CREATE INDEX identity_sessions_subject ON identity_sessions(subject);
  CREATE INDEX identity_sessions_expiry ON identity_sessions(expires_at);
  CREATE TABLE identity_flows (
    id TEXT NOT NULL, kind TEXT NOT NULL, sealed BYTEA NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (id, kind)
  );
  CREATE TABLE identity_saml_replay (assertion_id TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
  ` },
];

type Row = Record<string, unknown>;

function toSession(r: Row): SessionRecord {
  return {
    id: r.id as string, subject: r.subject as string, kind: r.kind as SessionRecord['kind'], displayName: r.display_name as string,
    groups: r.groups_json as string[], claims: r.claims_json as Record<string, unknown>, source: r.source as string,
    authMethod: r.auth_method as SessionRecord['authMethod'], accessHash: r.access_hash as string,
    accessExpiresAt: r.access_expires_at as number, prevAccessHash: r.prev_access_hash as string | null,
    prevAccessExpiresAt: r.prev_access_expires_at as number | null, refreshHash: r.refresh_hash as string | null,
    idpRefresh: (r.idp_refresh as Buffer | null) ?? null, createdAt: r.created_at as number, refreshedAt: r.refreshed_at as number | null,
    expiresAt: r.expires_at as number, revokedAt: r.revoked_at as number | null, revokedReason: r.revoked_reason as string | null,
  };
}

/** Every statement is a single row-level operation, so replicas sharing the database stay consistent without locks. */
export function postgresIdentityRepo(store: PostgresStore): IdentityRepo {
  const q = (sql: string, args: unknown[]) => store.query(sql, args);
  return {
    async createSession(s) {
      await q(`INSERT INTO identity_sessions (id, subject, kind, display_name, groups_json, claims_json, source, auth_method,
        access_hash, access_expires_at, prev_access_hash, prev_access_expires_at, refresh_hash, idp_refresh, created_at,
        refreshed_at, expires_at, revoked_at, revoked_reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`, [
        s.id, s.subject, s.kind, s.displayName, JSON.stringify(s.groups), JSON.stringify(s.claims), s.source, s.authMethod,
        s.accessHash, s.accessExpiresAt, s.prevAccessHash, s.prevAccessExpiresAt, s.refreshHash, s.idpRefresh, s.createdAt,
        s.refreshedAt, s.expiresAt, s.revokedAt, s.revokedReason]);
    },
    getSession: async (id) => (await q('SELECT * FROM identity_sessions WHERE id = $1', [id])).rows.map(toSession)[0],
    rotateSession: async (x) => (await q(`UPDATE identity_sessions SET access_hash = $1, access_expires_at = $2, prev_access_hash = $3,
        prev_access_expires_at = $4, refresh_hash = $5, idp_refresh = $6, groups_json = $7, claims_json = $8, refreshed_at = $9
        WHERE id = $10 AND refresh_hash = $11 AND revoked_at IS NULL`, [
      x.accessHash, x.accessExpiresAt, x.prevAccessHash, x.prevAccessExpiresAt, x.refreshHash, x.idpRefresh,
      JSON.stringify(x.groups), JSON.stringify(x.claims), x.refreshedAt, x.id, x.expectedRefreshHash])).rowCount === 1,
    // Each revoked session is announced with the commit: other replicas drop their cached row at once instead of
    // within `identity.tokens.cache_ttl_ms` (docs/fleet.md).
    revokeSession: async (id, at, reason) => (await q(
      `WITH r AS (UPDATE identity_sessions SET revoked_at = $1, revoked_reason = $2, idp_refresh = NULL WHERE id = $3 AND revoked_at IS NULL RETURNING id)
       SELECT pg_notify($4, json_build_object('kind', 'session_revoked', 'id', id)::text) FROM r`,
      [at, reason, id, CHANGES_CHANNEL])).rowCount === 1,
    revokeSubject: async (subject, at, reason) => (await q(
      `WITH r AS (UPDATE identity_sessions SET revoked_at = $1, revoked_reason = $2, idp_refresh = NULL WHERE subject = $3 AND revoked_at IS NULL RETURNING id)
       SELECT pg_notify($4, json_build_object('kind', 'session_revoked', 'id', id)::text) FROM r`,
      [at, reason, subject, CHANGES_CHANNEL])).rowCount ?? 0,
    listSessions: async (f) => (await q(`SELECT * FROM identity_sessions WHERE ($1::text IS NULL OR subject = $1)
        AND ($2::bigint IS NULL OR (revoked_at IS NULL AND expires_at > $2)) ORDER BY created_at DESC LIMIT $3`,
    [f.subject ?? null, f.activeAt ?? null, f.limit ?? 100])).rows.map(toSession),
    async putFlow(id, kind, sealed, expiresAt) {
      await q(`INSERT INTO identity_flows (id, kind, sealed, expires_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (id, kind) DO UPDATE SET sealed = EXCLUDED.sealed, expires_at = EXCLUDED.expires_at`, [id, kind, sealed, expiresAt]);
    },
    getFlow: async (id, kind, now) => (await q('SELECT sealed FROM identity_flows WHERE id = $1 AND kind = $2 AND expires_at > $3', [id, kind, now]))
      .rows.map((r) => r.sealed as Buffer)[0],
    // DELETE … RETURNING makes a flow single-use even when two replicas receive the same callback.
    takeFlow: async (id, kind, now) => (await q('DELETE FROM identity_flows WHERE id = $1 AND kind = $2 RETURNING sealed, expires_at', [id, kind]))
      .rows.filter((r) => (r.expires_at as number) > now).map((r) => r.sealed as Buffer)[0],
    async rememberAssertion(id, expiresAt, now) {
      await q('DELETE FROM identity_saml_replay WHERE assertion_id = $1 AND expires_at <= $2', [id, now]);
      return (await q('INSERT INTO identity_saml_replay (assertion_id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [id, expiresAt])).rowCount === 1;
    },
    async purge(now) {
      let n = (await q('DELETE FROM identity_flows WHERE expires_at <= $1', [now])).rowCount ?? 0;
      n += (await q('DELETE FROM identity_saml_replay WHERE expires_at <= $1', [now])).rowCount ?? 0;
      n += (await q('DELETE FROM identity_sessions WHERE expires_at <= $1', [now - 7 * 86_400_000])).rowCount ?? 0;
      return n;
    },
  };
}
