import type { IdentityRepo } from '../identity/repo.ts';
import type { Store } from './ports.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteIdentityRepo } from './sqlite/identity.ts';

/** The identity repo of an opened store (composition root helper). */
export function openIdentityRepo(store: Store): IdentityRepo {
  if (store instanceof SqliteStore) return sqliteIdentityRepo(store);
  throw new Error(`identity persistence is not available for the ${store.engine} store in this build`);
}
