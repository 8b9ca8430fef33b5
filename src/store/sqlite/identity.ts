import type { SQLOutputValue } from 'node:sqlite';
import type { SqliteCore } from './core.ts';
import type { Migration } from './migrations.ts';
import type { SqliteStore } from './index.ts';
import type { IdentityRepo, SessionRecord, SessionRotation } from '../../identity/repo.ts';

/** Identity tables: sessions behind minted tokens, pending login flows, SAML assertion replay cache. */
export const IDENTITY_MIGRATIONS: readonly Migration[] = [
  { id: 'identity/001-sessions', sql: `
  CREATE TABLE identity_sessions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    display_name TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    claims_json TEXT NOT NULL,
    source TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    access_hash TEXT NOT NULL,
    access_expires_at INTEGER NOT NULL,
    prev_access_hash TEXT,
    prev_access_expires_at INTEGER,
    refresh_hash TEXT,
    idp_refresh BLOB,
    created_at INTEGER NOT NULL,
    refreshed_at INTEGER,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
  );
  CREATE INDEX identity_sessions_subject ON identity_sessions(subject);
  CREATE INDEX identity_sessions_expiry ON identity_sessions(expires_at);
  CREATE TABLE identity_flows (
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sealed BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (id, kind)
  );
  CREATE TABLE identity_saml_replay (
    assertion_id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  );
  ` },
];

type Row = Record<string, SQLOutputValue>;

function toSession(r: Row): SessionRecord {
  return {
    id: r.id as string,
    subject: r.subject as string,
    kind: r.kind as SessionRecord['kind'],
    displayName: r.display_name as string,
    groups: JSON.parse(r.groups_json as string) as string[],
    claims: JSON.parse(r.claims_json as string) as Record<string, unknown>,
    source: r.source as string,
    authMethod: r.auth_method as SessionRecord['authMethod'],
    accessHash: r.access_hash as string,
    accessExpiresAt: r.access_expires_at as number,
    prevAccessHash: r.prev_access_hash as string | null,
    prevAccessExpiresAt: r.prev_access_expires_at as number | null,
    refreshHash: r.refresh_hash as string | null,
    idpRefresh: r.idp_refresh === null ? null : Buffer.from(r.idp_refresh as Uint8Array),
    createdAt: r.created_at as number,
    refreshedAt: r.refreshed_at as number | null,
    expiresAt: r.expires_at as number,
    revokedAt: r.revoked_at as number | null,
    revokedReason: r.revoked_reason as string | null,
  };
}

/** Synchronous methods run in the store worker (see extensions.ts). */
export function identitySqlite(core: SqliteCore) {
  return {
    'identity.createSession': (s: SessionRecord): void => {
      core.stmt(`INSERT INTO identity_sessions (id, subject, kind, display_name, groups_json, claims_json, source, auth_method,
        access_hash, access_expires_at, prev_access_hash, prev_access_expires_at, refresh_hash, idp_refresh, created_at,
        refreshed_at, expires_at, revoked_at, revoked_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        s.id, s.subject, s.kind, s.displayName, JSON.stringify(s.groups), JSON.stringify(s.claims), s.source, s.authMethod,
        s.accessHash, s.accessExpiresAt, s.prevAccessHash, s.prevAccessExpiresAt, s.refreshHash, s.idpRefresh, s.createdAt,
        s.refreshedAt, s.expiresAt, s.revokedAt, s.revokedReason);
    },
    'identity.getSession': (id: string): SessionRecord | undefined => {
      const r = core.stmt('SELECT * FROM identity_sessions WHERE id = ?').get(id);
      return r ? toSession(r) : undefined;
    },
    'identity.rotateSession': (x: SessionRotation): boolean => {
      const res = core.stmt(`UPDATE identity_sessions SET access_hash = ?, access_expires_at = ?, prev_access_hash = ?,
        prev_access_expires_at = ?, refresh_hash = ?, idp_refresh = ?, groups_json = ?, claims_json = ?, refreshed_at = ?
        WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL`).run(
        x.accessHash, x.accessExpiresAt, x.prevAccessHash, x.prevAccessExpiresAt, x.refreshHash, x.idpRefresh,
        JSON.stringify(x.groups), JSON.stringify(x.claims), x.refreshedAt, x.id, x.expectedRefreshHash);
      return Number(res.changes) === 1;
    },
    'identity.revokeSession': (id: string, at: number, reason: string): boolean =>
      Number(core.stmt('UPDATE identity_sessions SET revoked_at = ?, revoked_reason = ?, idp_refresh = NULL WHERE id = ? AND revoked_at IS NULL')
        .run(at, reason, id).changes) === 1,
    'identity.revokeSubject': (subject: string, at: number, reason: string): number =>
      Number(core.stmt('UPDATE identity_sessions SET revoked_at = ?, revoked_reason = ?, idp_refresh = NULL WHERE subject = ? AND revoked_at IS NULL')
        .run(at, reason, subject).changes),
    'identity.listSessions': (f: { subject?: string; activeAt?: number; limit?: number }): SessionRecord[] => {
      const rows = core.stmt(`SELECT * FROM identity_sessions WHERE (?1 IS NULL OR subject = ?1)
        AND (?2 IS NULL OR (revoked_at IS NULL AND expires_at > ?2)) ORDER BY created_at DESC LIMIT ?3`)
        .all(f.subject ?? null, f.activeAt ?? null, f.limit ?? 100) as Row[];
      return rows.map(toSession);
    },
    'identity.putFlow': (id: string, kind: string, sealed: Uint8Array, expiresAt: number): void => {
      core.stmt('INSERT OR REPLACE INTO identity_flows (id, kind, sealed, expires_at) VALUES (?, ?, ?, ?)').run(id, kind, sealed, expiresAt);
    },
    'identity.getFlow': (id: string, kind: string, now: number): Uint8Array | undefined => {
      const r = core.stmt('SELECT sealed FROM identity_flows WHERE id = ? AND kind = ? AND expires_at > ?').get(id, kind, now);
      return r ? (r.sealed as Uint8Array) : undefined;
    },
    'identity.takeFlow': (id: string, kind: string, now: number): Uint8Array | undefined => {
      const r = core.stmt('DELETE FROM identity_flows WHERE id = ? AND kind = ? RETURNING sealed, expires_at').get(id, kind);
      return r && (r.expires_at as number) > now ? (r.sealed as Uint8Array) : undefined;
    },
    'identity.rememberAssertion': (id: string, expiresAt: number, now: number): boolean => {
      core.stmt('DELETE FROM identity_saml_replay WHERE assertion_id = ? AND expires_at <= ?').run(id, now);
      return Number(core.stmt('INSERT OR IGNORE INTO identity_saml_replay (assertion_id, expires_at) VALUES (?, ?)').run(id, expiresAt).changes) === 1;
    },
    'identity.purge': (now: number): number => {
      let n = Number(core.stmt('DELETE FROM identity_flows WHERE expires_at <= ?').run(now).changes);
      n += Number(core.stmt('DELETE FROM identity_saml_replay WHERE expires_at <= ?').run(now).changes);
      // Keep dead sessions a week for the audit trail of who held what, then drop them.
      n += Number(core.stmt('DELETE FROM identity_sessions WHERE expires_at <= ?').run(now - 7 * 86_400_000).changes);
      return n;
    },
  };
}

function buf(u: Uint8Array | undefined): Buffer | undefined {
  return u === undefined ? undefined : Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function fixSession(s: SessionRecord | undefined): SessionRecord | undefined {
  return s && { ...s, idpRefresh: s.idpRefresh === null ? null : buf(s.idpRefresh)! };
}

/** Typed async repo on the main thread. */
export function sqliteIdentityRepo(store: SqliteStore): IdentityRepo {
  return {
    createSession: (s) => store.callExt('identity.createSession', s),
    getSession: (id) => store.callExt<SessionRecord | undefined>('identity.getSession', id).then(fixSession),
    rotateSession: (x) => store.callExt('identity.rotateSession', x),
    revokeSession: (id, at, reason) => store.callExt('identity.revokeSession', id, at, reason),
    revokeSubject: (subject, at, reason) => store.callExt('identity.revokeSubject', subject, at, reason),
    listSessions: (f) => store.callExt<SessionRecord[]>('identity.listSessions', f).then((rows) => rows.map((r) => fixSession(r)!)),
    putFlow: (id, kind, sealed, expiresAt) => store.callExt('identity.putFlow', id, kind, sealed, expiresAt),
    getFlow: (id, kind, now) => store.callExt<Uint8Array | undefined>('identity.getFlow', id, kind, now).then(buf),
    takeFlow: (id, kind, now) => store.callExt<Uint8Array | undefined>('identity.takeFlow', id, kind, now).then(buf),
    rememberAssertion: (id, expiresAt, now) => store.callExt('identity.rememberAssertion', id, expiresAt, now),
    purge: (now) => store.callExt('identity.purge', now),
  };
}
