import type { AuditRepo } from '../../src/audit/repo.ts';
import { openAuditRepo } from '../../src/store/audit-repo.ts';
import type { Store } from '../../src/store/ports.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';

/** Opens a stopped gateway's SQLite file to read what it recorded. */
export async function createAuditRepoFor(file: string): Promise<{ store: Store; audit: AuditRepo }> {
  const store = await SqliteStore.open({ path: file, synchronous: 'normal' });
  return { store, audit: openAuditRepo(store) };
}
