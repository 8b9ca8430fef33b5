import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { postgresAuditRepo } from '../../src/store/postgres/audit.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { dedupConformance } from './dedup-conformance.ts';

dedupConformance('postgres', async () => {
  const server = await startTestPostgres();
  const run = async (sql: string): Promise<Record<string, unknown>[]> => {
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    try { return (await c.query(sql)).rows as Record<string, unknown>[]; } finally { await c.end(); }
  };
  return {
    async open() {
      const store = await PostgresStore.open(server.url, { pool: { pool_max: 4 } });
      return { store, repo: postgresAuditRepo(store) };
    },
    tamper: async (sql) => void (await run(sql)),
    rows: run,
    close: () => server.stop(),
  };
});
