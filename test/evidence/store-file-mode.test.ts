import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/index.ts';

/** Permission bits of a path (the type bits dropped). */
const mode = (p: string): number => statSync(p).mode & 0o777;
const octal = (n: number): string => `0${n.toString(8)}`;

/** The database holds sealed bodies, key hashes and the audit trail: owner-only, like the master key (item 15). */
describe('SQLite store file modes', () => {
  it('creates the directory 0700 and the database, its WAL and its shared-memory file 0600 (under a 022 umask)', async () => {
    const previous = process.umask(0o022);
    const dir = join(mkdtempSync(join(tmpdir(), 'pcl-mode-')), '.portcullis');
    const path = join(dir, 'portcullis.db');
    const store = await SqliteStore.open({ path, synchronous: 'normal' });
    try {
      await store.apiKeys.count();
      assert.equal(octal(mode(dir)), '0700');
      for (const f of [path, `${path}-wal`, `${path}-shm`]) {
        assert.ok(existsSync(f), `${f} exists while the store is open (WAL mode)`);
        assert.equal(octal(mode(f)), '0600', f);
      }
    } finally {
      await store.close();
      process.umask(previous);
    }
  });

  it('tightens an existing database, WAL and shared-memory file left world-readable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-mode-'));
    const path = join(dir, 'portcullis.db');
    const first = await SqliteStore.open({ path, synchronous: 'normal' });
    await first.close();
    writeFileSync(`${path}-wal`, '');
    writeFileSync(`${path}-shm`, '');
    for (const f of [path, `${path}-wal`, `${path}-shm`]) chmodSync(f, 0o644);
    const store = await SqliteStore.open({ path, synchronous: 'normal' });
    try {
      await store.apiKeys.count();
      for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(octal(mode(f)), '0600', f);
    } finally {
      await store.close();
    }
  });
});
