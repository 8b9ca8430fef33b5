import type { McpCatalogue } from '../../mcp/pin-repo.ts';
import type { McpPinRepo } from '../../mcp/pin-repo.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/** Pinned and pending MCP tool catalogues (src/mcp/pin-repo.ts). */
export const MCP_MIGRATIONS: readonly Migration[] = [
  { id: 'mcp/001-catalogues', sql: `
  CREATE TABLE mcp_catalogues (
    server TEXT NOT NULL, state TEXT NOT NULL, set_hash TEXT NOT NULL, catalogue_json TEXT NOT NULL,
    updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL,
    PRIMARY KEY (server, state)
  );
  ` },
];

const read = (core: SqliteCore, server: string, state: string): McpCatalogue | undefined => {
  const r = core.stmt('SELECT catalogue_json FROM mcp_catalogues WHERE server = ? AND state = ?').get(server, state);
  return r ? (JSON.parse(String(r.catalogue_json)) as McpCatalogue) : undefined;
};

const write = (core: SqliteCore, state: string, c: McpCatalogue): void => {
  core.stmt(`INSERT INTO mcp_catalogues (server, state, set_hash, catalogue_json, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (server, state) DO UPDATE SET set_hash = excluded.set_hash, catalogue_json = excluded.catalogue_json,
    updated_at = excluded.updated_at, updated_by = excluded.updated_by`).run(c.server, state, c.setHash, JSON.stringify(c), c.at, c.by);
};

/** Runs in the worker: each method is one transaction, so two replicas never both pin a different first catalogue. */
export function mcpSqlite(core: SqliteCore): Record<string, (...args: never[]) => unknown> {
  return {
    'mcp.get': (server: string) => ({ pinned: read(core, server, 'pinned'), pending: read(core, server, 'pending') }),
    'mcp.pinIfAbsent': (c: McpCatalogue) => {
      const existing = read(core, c.server, 'pinned');
      if (existing) return existing;
      write(core, 'pinned', c);
      return c;
    },
    'mcp.propose': (c: McpCatalogue) => write(core, 'pending', c),
    'mcp.accept': (server: string, setHash: string, at: number, by: string) => {
      const pending = read(core, server, 'pending');
      if (!pending || pending.setHash !== setHash) return undefined;
      const { definitions: _d, findings: _f, ...rest } = pending;
      const pinned: McpCatalogue = { ...rest, at, by };
      write(core, 'pinned', pinned);
      core.stmt(`DELETE FROM mcp_catalogues WHERE server = ? AND state = 'pending'`).run(server);
      return pinned;
    },
    'mcp.list': () => core.stmt('SELECT server, state, set_hash, updated_at, updated_by FROM mcp_catalogues ORDER BY server, state').all()
      .map((r) => ({ server: String(r.server), state: r.state === 'pending' ? 'pending' : 'pinned', setHash: String(r.set_hash), at: Number(r.updated_at), by: String(r.updated_by) })),
  };
}

export function sqliteMcpPinRepo(store: SqliteStore): McpPinRepo {
  return {
    get: (server) => store.callExt('mcp.get', server),
    pinIfAbsent: (c) => store.callExt('mcp.pinIfAbsent', c),
    propose: (c) => store.callExt('mcp.propose', c),
    accept: (server, setHash, at, by) => store.callExt('mcp.accept', server, setHash, at, by),
    list: () => store.callExt('mcp.list'),
  };
}
