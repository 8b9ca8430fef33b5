import type { AnalyticsRepo } from '../analytics/types.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresAnalytics } from './postgres/analytics.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteAnalytics } from './sqlite/analytics.ts';

/** Usage rollups for an opened store (composition root helper, like budget-counters.ts). */
export function openAnalyticsRepo(store: Store): AnalyticsRepo {
  if (store instanceof PostgresStore) return postgresAnalytics(store);
  if (store instanceof SqliteStore) return sqliteAnalytics(store);
  throw new Error(`usage analytics are not available for the ${store.engine} store`);
}
