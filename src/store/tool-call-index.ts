import type { ToolCallIndex } from '../audit/tool-call-index.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresToolCallIndex } from './postgres/tool-calls.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteToolCallIndex } from './sqlite/tool-calls.ts';

/** The model tool-call index of an opened store (composition root helper), or undefined for another engine. */
export function toolCallIndexFor(store: Store): ToolCallIndex | undefined {
  if (store instanceof SqliteStore) return sqliteToolCallIndex(store);
  if (store instanceof PostgresStore) return postgresToolCallIndex(store);
  return undefined;
}
