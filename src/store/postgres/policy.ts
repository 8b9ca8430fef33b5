import type { PolicyRepo } from '../../policy/versions.ts';
import type { Migration } from '../sqlite/migrations.ts';
import { toActivation, toVersion } from '../sqlite/policy.ts';
import type { PostgresStore } from './index.ts';
import { notifyChange } from './changes.ts';

/** Policy versions on PostgreSQL: the twin of src/store/sqlite/policy.ts, shared by every replica. */
export const POLICY_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'policy/001-versions', sql: `
  CREATE TABLE policy_versions (
    id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, hash TEXT NOT NULL, source TEXT NOT NULL,
    author TEXT NOT NULL, message TEXT NOT NULL, created_at BIGINT NOT NULL
  );
  CREATE INDEX policy_versions_hash ON policy_versions(hash);
  CREATE TABLE policy_activations (
    seq BIGSERIAL PRIMARY KEY, version_id TEXT NOT NULL REFERENCES policy_versions(id), mode TEXT NOT NULL,
    action TEXT NOT NULL, at BIGINT NOT NULL, by TEXT NOT NULL
  );
  ` },
];

const META = 'id, number, hash, author, message, created_at';

export function postgresPolicyRepo(store: PostgresStore): PolicyRepo {
  const one = async (sql: string, arg: unknown) => (await store.query(sql, [arg])).rows.map(toVersion)[0];
  return {
    async create(v) {
      // Two replicas pushing at once may race for the next number: the UNIQUE constraint refuses one; it retries.
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await store.query<{ number: number }>(
            `INSERT INTO policy_versions (id, number, hash, source, author, message, created_at)
             SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6 FROM policy_versions RETURNING number`,
            [v.id, v.hash, v.source, v.author, v.message, v.createdAt],
          );
          return { ...v, number: Number(r.rows[0]!.number) };
        } catch (err) {
          if (attempt >= 3 || (err as { code?: string }).code !== '23505') throw err;
        }
      }
    },
    get: (id) => one('SELECT * FROM policy_versions WHERE id = $1', id),
    getByNumber: (n) => one('SELECT * FROM policy_versions WHERE number = $1', n),
    getByHash: (h) => one('SELECT * FROM policy_versions WHERE hash = $1 ORDER BY number LIMIT 1', h),
    list: async (limit) =>
      (await store.query(`SELECT ${META} FROM policy_versions ORDER BY number DESC LIMIT $1`, [limit])).rows.map((r) => {
        const { source: _s, ...rest } = toVersion(r);
        return rest;
      }),
    activate: async (a) => {
      // With the activation's commit, every replica reloads the active version (docs/fleet.md).
      const r = await store.transaction(async (c) => {
        const ins = await c.query<{ seq: number }>('INSERT INTO policy_activations (version_id, mode, action, at, by) VALUES ($1, $2, $3, $4, $5) RETURNING seq', [a.versionId, a.mode, a.action, a.at, a.by]);
        await notifyChange(c, { kind: 'policy_activated', id: a.versionId });
        return ins;
      });
      return { ...a, seq: Number(r.rows[0]!.seq) };
    },
    active: async () => (await store.query('SELECT * FROM policy_activations ORDER BY seq DESC LIMIT 1')).rows.map(toActivation)[0],
    activations: async (limit) => (await store.query('SELECT * FROM policy_activations ORDER BY seq DESC LIMIT $1', [limit])).rows.map(toActivation),
  };
}
