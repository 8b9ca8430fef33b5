import type { McpCatalogue, McpPinRepo } from '../../mcp/pin-repo.ts';
import type { Migration } from '../sqlite/migrations.ts';
import type { PostgresStore } from './index.ts';

/** Pinned and pending MCP tool catalogues on PostgreSQL: the same table as SQLite. */
export const MCP_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'mcp/001-catalogues', sql: `
  CREATE TABLE mcp_catalogues (
    server TEXT NOT NULL, state TEXT NOT NULL, set_hash TEXT NOT NULL, catalogue_json JSONB NOT NULL,
    updated_at BIGINT NOT NULL, updated_by TEXT NOT NULL,
    PRIMARY KEY (server, state)
  );
  ` },
];

const UPSERT = `INSERT INTO mcp_catalogues (server, state, set_hash, catalogue_json, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (server, state) DO UPDATE SET set_hash = EXCLUDED.set_hash, catalogue_json = EXCLUDED.catalogue_json,
  updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`;

const args = (state: string, c: McpCatalogue): unknown[] => [c.server, state, c.setHash, JSON.stringify(c), c.at, c.by];

export function postgresMcpPinRepo(store: PostgresStore): McpPinRepo {
  const one = async (server: string, state: string): Promise<McpCatalogue | undefined> =>
    (await store.query('SELECT catalogue_json FROM mcp_catalogues WHERE server = $1 AND state = $2', [server, state])).rows
      .map((r) => r.catalogue_json as McpCatalogue)[0];
  return {
    get: async (server) => ({ pinned: await one(server, 'pinned'), pending: await one(server, 'pending') }),
    // Replicas racing to pin a server's first catalogue: the primary key lets exactly one insert win.
    pinIfAbsent: async (c) => {
      await store.query(`INSERT INTO mcp_catalogues (server, state, set_hash, catalogue_json, updated_at, updated_by)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (server, state) DO NOTHING`, args('pinned', c));
      return (await one(c.server, 'pinned'))!;
    },
    propose: async (c) => void (await store.query(UPSERT, args('pending', c))),
    accept: (server, setHash, at, by) => store.transaction(async (q) => {
      const r = await q.query<{ catalogue_json: McpCatalogue }>(`SELECT catalogue_json FROM mcp_catalogues WHERE server = $1 AND state = 'pending' FOR UPDATE`, [server]);
      const pending = r.rows[0]?.catalogue_json;
      if (!pending || pending.setHash !== setHash) return undefined;
      const { definitions: _d, findings: _f, ...rest } = pending;
      const pinned: McpCatalogue = { ...rest, at, by };
      await q.query(UPSERT, args('pinned', pinned));
      await q.query(`DELETE FROM mcp_catalogues WHERE server = $1 AND state = 'pending'`, [server]);
      return pinned;
    }),
    list: async () => (await store.query('SELECT server, state, set_hash, updated_at, updated_by FROM mcp_catalogues ORDER BY server, state')).rows
      .map((r) => ({ server: String(r.server), state: r.state === 'pending' ? 'pending' as const : 'pinned' as const, setHash: String(r.set_hash), at: Number(r.updated_at), by: String(r.updated_by) })),
  };
}
