import type { AlertRepo } from '../alerts/types.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresAlerts } from './postgres/alerts.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteAlerts } from './sqlite/alerts.ts';

/** Alert state and investigations for an opened store (composition root helper, like analytics-repo.ts). */
export function openAlertRepo(store: Store): AlertRepo {
  if (store instanceof PostgresStore) return postgresAlerts(store);
  if (store instanceof SqliteStore) return sqliteAlerts(store);
  throw new Error(`alerts are not available for the ${store.engine} store`);
}
