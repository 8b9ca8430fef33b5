import type { ApprovalRepo } from '../approvals/repo.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresApprovalRepo } from './postgres/approvals.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteApprovalRepo } from './sqlite/approvals.ts';

/** The approvals repo of an opened store (composition root helper). */
export function openApprovalRepo(store: Store): ApprovalRepo {
  if (store instanceof SqliteStore) return sqliteApprovalRepo(store);
  if (store instanceof PostgresStore) return postgresApprovalRepo(store);
  throw new TypeError(`no approvals repo for store engine ${store.engine}`);
}
