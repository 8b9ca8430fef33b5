import type { TemplateRepo } from '../policy/templates/repo.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { postgresTemplateRepo } from './postgres/templates.ts';
import { SqliteStore } from './sqlite/index.ts';
import { sqliteTemplateRepo } from './sqlite/templates.ts';

/** The prompt-template repo of an opened store (composition root helper). */
export function templateRepoFor(store: Store): TemplateRepo {
  if (store instanceof SqliteStore) return sqliteTemplateRepo(store);
  if (store instanceof PostgresStore) return postgresTemplateRepo(store);
  throw new Error(`prompt templates are not available for the ${store.engine} store`);
}
