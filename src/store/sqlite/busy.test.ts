import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { SqliteStore } from './index.ts';

test('a batch that cannot get the write lock fails, and the store keeps working once the lock is free', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-busy-'));
  const path = join(dir, 'db.sqlite');
  const store = await SqliteStore.open({ path, synchronous: 'normal' });
  const other = new DatabaseSync(path);
  try {
    // Another process (a CLI purge, say) holds the write lock past the store's busy_timeout (5 s).
    other.exec('BEGIN IMMEDIATE');
    await assert.rejects(store.credentials.put('openai', Buffer.from('sealed'), 1, 'admin'), /store busy/);
    other.exec('ROLLBACK');
    await store.credentials.put('openai', Buffer.from('sealed'), 2, 'admin');
    assert.equal((await store.credentials.get('openai'))?.updatedAt, 2);
  } finally {
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
