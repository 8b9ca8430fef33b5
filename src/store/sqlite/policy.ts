import type { SQLOutputValue } from 'node:sqlite';
import type { PolicyActivation, PolicyRepo, PolicyVersionRecord } from '../../policy/versions.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/** Policy versions (immutable rows) and the append-only activation log; the latest activation is the active one. */
export const POLICY_MIGRATIONS: readonly Migration[] = [
  { id: 'policy/001-versions', sql: `
  CREATE TABLE policy_versions (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, hash TEXT NOT NULL, source TEXT NOT NULL,
    author TEXT NOT NULL, message TEXT NOT NULL, created_at INTEGER NOT NULL
  );
  CREATE INDEX policy_versions_hash ON policy_versions(hash);
  CREATE TABLE policy_activations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, version_id TEXT NOT NULL REFERENCES policy_versions(id), mode TEXT NOT NULL,
    action TEXT NOT NULL, at INTEGER NOT NULL, by TEXT NOT NULL
  );
  ` },
];

type Row = Record<string, SQLOutputValue>;
const VERSION_META = 'id, number, hash, author, message, created_at';

export function toVersion(r: Record<string, unknown>): PolicyVersionRecord {
  return {
    id: String(r.id), number: Number(r.number), hash: String(r.hash), source: typeof r.source === 'string' ? r.source : '',
    author: String(r.author), message: String(r.message), createdAt: Number(r.created_at),
  };
}

export function toActivation(r: Record<string, unknown>): PolicyActivation {
  return {
    seq: Number(r.seq), versionId: String(r.version_id), mode: r.mode === 'observe' ? 'observe' : 'enforce',
    action: r.action === 'rollback' ? 'rollback' : 'activate', at: Number(r.at), by: String(r.by),
  };
}

function meta(v: PolicyVersionRecord): Omit<PolicyVersionRecord, 'source'> {
  const { source: _s, ...rest } = v;
  return rest;
}

/** Synchronous methods run in the store worker (see extensions.ts). */
export function policySqlite(core: SqliteCore) {
  const one = (sql: string, ...args: (string | number)[]): PolicyVersionRecord | undefined => {
    const r = core.stmt(sql).get(...args);
    return r ? toVersion(r) : undefined;
  };
  return {
    'policy.create': (v: Omit<PolicyVersionRecord, 'number'>): PolicyVersionRecord => {
      const r = core.stmt(`INSERT INTO policy_versions (id, number, hash, source, author, message, created_at)
        SELECT ?, COALESCE(MAX(number), 0) + 1, ?, ?, ?, ?, ? FROM policy_versions RETURNING number`)
        .get(v.id, v.hash, v.source, v.author, v.message, v.createdAt) as Row;
      return { ...v, number: Number(r.number) };
    },
    'policy.get': (id: string) => one('SELECT * FROM policy_versions WHERE id = ?', id),
    'policy.getByNumber': (n: number) => one('SELECT * FROM policy_versions WHERE number = ?', n),
    'policy.getByHash': (hash: string) => one('SELECT * FROM policy_versions WHERE hash = ? ORDER BY number LIMIT 1', hash),
    'policy.list': (limit: number) =>
      (core.stmt(`SELECT ${VERSION_META} FROM policy_versions ORDER BY number DESC LIMIT ?`).all(limit) as Row[]).map((r) => meta(toVersion(r))),
    'policy.activate': (a: Omit<PolicyActivation, 'seq'>): PolicyActivation => {
      const r = core.stmt('INSERT INTO policy_activations (version_id, mode, action, at, by) VALUES (?, ?, ?, ?, ?) RETURNING seq')
        .get(a.versionId, a.mode, a.action, a.at, a.by) as Row;
      return { ...a, seq: Number(r.seq) };
    },
    'policy.active': (): PolicyActivation | undefined => {
      const r = core.stmt('SELECT * FROM policy_activations ORDER BY seq DESC LIMIT 1').get();
      return r ? toActivation(r) : undefined;
    },
    'policy.activations': (limit: number) =>
      (core.stmt('SELECT * FROM policy_activations ORDER BY seq DESC LIMIT ?').all(limit) as Row[]).map(toActivation),
  };
}

/** Typed async repo on the main thread. */
export function sqlitePolicyRepo(store: SqliteStore): PolicyRepo {
  return {
    create: (v) => store.callExt('policy.create', v),
    get: (id) => store.callExt('policy.get', id),
    getByNumber: (n) => store.callExt('policy.getByNumber', n),
    getByHash: (h) => store.callExt('policy.getByHash', h),
    list: (limit) => store.callExt('policy.list', limit),
    activate: (a) => store.callExt('policy.activate', a),
    active: () => store.callExt('policy.active'),
    activations: (limit) => store.callExt('policy.activations', limit),
  };
}
