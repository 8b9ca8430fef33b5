import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteAuditRepo } from '../../src/store/sqlite/audit.ts';
import { dedupConformance } from './dedup-conformance.ts';

dedupConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-dedup-'));
  const path = join(dir, 'p.db');
  const raw = <T>(fn: (db: DatabaseSync) => T): T => {
    const db = new DatabaseSync(path);
    try { return fn(db); } finally { db.close(); }
  };
  return {
    async open() {
      const store = await SqliteStore.open({ path, synchronous: 'normal' });
      return { store, repo: sqliteAuditRepo(store) };
    },
    tamper: async (sql) => void raw((db) => db.exec(sql)),
    rows: async (sql) => raw((db) => db.prepare(sql).all() as Record<string, unknown>[]),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
