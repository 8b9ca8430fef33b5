import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { postgresAuditRepo } from '../../src/store/postgres/audit.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { auditRepoConformance } from './audit-repo-conformance.ts';

auditRepoConformance('postgres', async () => {
  const server = await startTestPostgres();
  return {
    async open() {
      const store = await PostgresStore.open(server.url, { pool: { pool_max: 4 } });
      return { store, repo: postgresAuditRepo(store) };
    },
    async tamper(sql) {
      const c = new pg.Client({ connectionString: server.url });
      await c.connect();
      try { await c.query(sql); } finally { await c.end(); }
    },
    close: () => server.stop(),
  };
});
