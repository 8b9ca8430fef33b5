import type { OutboxRepo } from '../events/repo.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresOutboxRepo } from './postgres/outbox.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteOutboxRepo } from './sqlite/outbox.ts';

/** The event outbox of an opened store (composition root helper). */
export function openOutboxRepo(store: Store): OutboxRepo {
  if (store instanceof SqliteStore) return sqliteOutboxRepo(store);
  if (store instanceof PostgresStore) return postgresOutboxRepo(store);
  throw new TypeError(`no outbox repo for store engine ${store.engine}`);
}
