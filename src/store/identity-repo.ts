import type { IdentityRepo } from '../identity/repo.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresIdentityRepo } from './postgres/identity.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteIdentityRepo } from './sqlite/identity.ts';

/** The identity repo of an opened store (composition root helper). */
export function openIdentityRepo(store: Store): IdentityRepo {
  if (store instanceof SqliteStore) return sqliteIdentityRepo(store);
  if (store instanceof PostgresStore) return postgresIdentityRepo(store);
  throw new TypeError(`no identity repo for store engine ${store.engine}`);
}
