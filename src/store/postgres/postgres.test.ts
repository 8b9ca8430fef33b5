import { after, before } from 'node:test';
import { storeConformance } from '../conformance.ts';
import { PostgresStore } from './index.ts';
import { startTestPostgres, type TestPostgres } from '../../../test/helpers/postgres.ts';

let pgServer: TestPostgres;
before(async () => {
  pgServer = await startTestPostgres();
});
after(async () => {
  await pgServer.stop();
});

storeConformance('postgres', () => PostgresStore.open(pgServer.url));
