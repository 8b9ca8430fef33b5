import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { GatewayLogger, LogFields } from '../../core/logger.ts';
import { storeConformance } from '../conformance.ts';
import { PostgresStore } from './index.ts';
import { eventually } from '../../../test/helpers/gateway.ts';
import { startTestPostgres, type TestPostgres } from '../../../test/helpers/postgres.ts';

let pgServer: TestPostgres;
before(async () => {
  pgServer = await startTestPostgres();
});
after(async () => {
  await pgServer.stop();
});

storeConformance('postgres', () => PostgresStore.open(pgServer.url));

function recordingLogger(): { logger: GatewayLogger; warnings: { f: LogFields; msg: string | undefined }[] } {
  const warnings: { f: LogFields; msg: string | undefined }[] = [];
  const none = () => undefined;
  return { warnings, logger: { info: none, debug: none, error: none, warn: (f, msg) => warnings.push({ f, msg }) } };
}

async function sql(url: string, text: string, args: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text, args);
  } finally {
    await c.end();
  }
}

describe('postgres store: connections the server ends', () => {
  it('idle connections terminated by the server do not crash the process; a warning names the SQLSTATE only; the next query reconnects', async () => {
    const { logger, warnings } = recordingLogger();
    const store = await PostgresStore.open(pgServer.url, { pool: { pool_max: 4 }, logger });
    try {
      await Promise.all(Array.from({ length: 4 }, () => store.query('SELECT pg_sleep(0.01)')));
      const killed = await sql(pgServer.url, `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`);
      assert.ok(killed.rowCount! >= 1);
      // All four pooled clients were killed: each is reported once its error arrives.
      await eventually(async () => (warnings.length >= 4 ? true : undefined));
      for (const w of warnings) {
        assert.equal(w.f.event, 'store_connection_lost');
        assert.equal(w.f.error_name, '57P01'); // admin_shutdown
        assert.ok(!JSON.stringify(w).includes(pgServer.url));
      }
      await store.ping();
      assert.equal((await store.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n, 1);
    } finally {
      await store.close();
    }
  });

  it('close() resolves only once every connection is gone: dropping the database right after ends nothing live', async () => {
    const { logger, warnings } = recordingLogger();
    for (let i = 0; i < 10; i++) {
      const name = `pcl_close_${randomBytes(6).toString('hex')}`;
      await sql(pgServer.url, `CREATE DATABASE ${name}`);
      const u = new URL(pgServer.url);
      u.pathname = `/${name}`;
      const store = await PostgresStore.open(u.toString(), { pool: { pool_max: 8 }, logger });
      await Promise.all(Array.from({ length: 8 }, () => store.query('SELECT pg_sleep(0.01)')));
      await store.close();
      await sql(pgServer.url, `DROP DATABASE ${name} WITH (FORCE)`);
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(warnings, []);
  });
});
