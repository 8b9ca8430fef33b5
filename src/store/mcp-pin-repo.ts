import type { McpPinRepo } from '../mcp/pin-repo.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresMcpPinRepo } from './postgres/mcp.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteMcpPinRepo } from './sqlite/mcp.ts';

/** The MCP catalogue pin repo of an opened store (composition root helper). */
export function mcpPinRepoFor(store: Store): McpPinRepo {
  if (store instanceof SqliteStore) return sqliteMcpPinRepo(store);
  if (store instanceof PostgresStore) return postgresMcpPinRepo(store);
  throw new Error(`MCP catalogue pins are not available for the ${store.engine} store`);
}
