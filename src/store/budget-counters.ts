import { MemoryBudgetCounters, type BudgetCounterRepo } from '../policy/budgets/counters.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresBudgetCounters } from './postgres/budgets.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteBudgetCounters } from './sqlite/budgets.ts';

/**
 * Budget counters for an opened store (composition root helper). `auto` (default): in memory on the embedded
 * SQLite store (one node), on the shared store with PostgreSQL (replicas share counts). `store` forces the store's
 * counters (SQLite too: counts survive a restart); `memory` forces per-process counters.
 */
export function budgetCountersFor(store: Store, mode: 'auto' | 'memory' | 'store' = 'auto', now?: () => number): BudgetCounterRepo {
  if (mode === 'memory' || (mode === 'auto' && store.engine === 'sqlite')) return new MemoryBudgetCounters(now);
  if (store instanceof PostgresStore) return postgresBudgetCounters((sql, args) => store.query(sql, args), (incs, ex) => store.recording.count(incs, ex));
  if (store instanceof SqliteStore) return sqliteBudgetCounters(store);
  throw new Error(`budget counters are not available for the ${store.engine} store`);
}
