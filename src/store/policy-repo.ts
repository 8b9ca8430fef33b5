import type { PolicyRepo } from '../policy/versions.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresPolicyRepo } from './postgres/policy.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqlitePolicyRepo } from './sqlite/policy.ts';

/** The policy version repo of an opened store (composition root helper). */
export function openPolicyRepo(store: Store): PolicyRepo {
  if (store instanceof SqliteStore) return sqlitePolicyRepo(store);
  if (store instanceof PostgresStore) return postgresPolicyRepo(store);
  throw new Error(`policy versions are not available for the ${(store).engine} store`);
}
