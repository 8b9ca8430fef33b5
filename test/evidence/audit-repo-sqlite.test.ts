import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteAuditRepo } from '../../src/store/sqlite/audit.ts';
import { auditRepoConformance } from './audit-repo-conformance.ts';

auditRepoConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-audit-conf-'));
  const path = join(dir, 'p.db');
  return {
    async open() {
      const store = await SqliteStore.open({ path, synchronous: 'normal' });
      return { store, repo: sqliteAuditRepo(store) };
    },
    async tamper(sql) {
      const db = new DatabaseSync(path);
      try { db.exec(sql); } finally { db.close(); }
    },
    async close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
