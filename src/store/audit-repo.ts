import type { AuditRepo } from '../audit/repo.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresAuditRepo } from './postgres/audit.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteAuditRepo } from './sqlite/audit.ts';

/** The audit repo of an opened store (composition root and CLI helper). */
export function openAuditRepo(store: Store): AuditRepo {
  if (store instanceof SqliteStore) return sqliteAuditRepo(store);
  if (store instanceof PostgresStore) return postgresAuditRepo(store);
  throw new Error(`audit persistence is not available for the ${store.engine} store in this build`);
}
