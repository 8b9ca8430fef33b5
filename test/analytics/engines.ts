import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after } from 'node:test';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/ports.ts';
import { startTestPostgres } from '../helpers/postgres.ts';

/** A deterministic PRNG (mulberry32), so a failure of a random-traffic test can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An opened store, how to close it, and a way to run SQL on it behind its back (to stage what the store would not write). */
export type OpenEngine = () => Promise<{ store: Store; stop: () => Promise<void>; exec: (sql: string) => Promise<void> }>;

/** Runs SQL on a PostgreSQL store (tests only: the store keeps its pool to itself). */
export const pgQuery = (s: Store, sql: string): Promise<unknown> => (s as unknown as { query(sql: string): Promise<unknown> }).query(sql);

/**
 * The two engines an analytics suite runs on: each `open` gives a fresh SQLite file, or the file's own PostgreSQL
 * (started once, stopped after the file) with `tables` emptied, so each test starts from no data.
 */
export function analyticsEngines(o: { prefix: string; tables: string }): { sqlite: OpenEngine; postgres: OpenEngine; pgServer: ReturnType<typeof startTestPostgres> } {
  const pgServer = startTestPostgres();
  after(async () => (await pgServer).stop());
  return {
    pgServer,
    sqlite: async () => {
      const dir = mkdtempSync(join(tmpdir(), o.prefix));
      const store = await openStore(`sqlite:${join(dir, 'r.db')}`, { baseDir: dir });
      const exec = async (sql: string): Promise<void> => {
        const db = new DatabaseSync(join(dir, 'r.db'));
        try {
          db.exec('PRAGMA busy_timeout = 5000');
          db.exec(sql);
        } finally {
          db.close();
        }
      };
      return { store, exec, stop: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
    },
    postgres: async () => {
      const store = await openStore((await pgServer).url, { baseDir: tmpdir() });
      await pgQuery(store, `TRUNCATE ${o.tables} CASCADE`);
      return { store, exec: async (sql) => void (await pgQuery(store, sql)), stop: () => store.close() };
    },
  };
}
