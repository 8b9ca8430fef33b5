import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHttpSink } from '../../src/events/sinks/http.ts';
import type { EventPipeline } from '../../src/events/pipeline.ts';
import { openOutboxRepo } from '../../src/store/outbox-repo.ts';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { adminEvent, idsOf, pipelineOf, startCollector, tempDir, testConfig, waitFor, type Collector } from './helpers.ts';
import { outboxConformance } from './outbox-conformance.ts';

let pgServer: TestPostgres;
before(async () => {
  pgServer = await startTestPostgres();
});
after(async () => {
  await pgServer.stop();
});

outboxConformance('sqlite', async () => {
  const store = await SqliteStore.open({ path: join(tempDir(), 'o.db'), synchronous: 'normal' });
  return { repo: openOutboxRepo(store), close: () => store.close() };
});

outboxConformance('postgres', async () => {
  const db = await startTestPostgres();
  const store = await PostgresStore.open(db.url);
  return { repo: openOutboxRepo(store), close: async () => (await store.close(), await db.stop()) };
});

describe('two gateway replicas on one PostgreSQL outbox', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function replica(col: Collector, owner: string, o: { leaseMs?: number; sink?: string } = {}): Promise<EventPipeline> {
    const store = await PostgresStore.open(pgServer.url);
    cleanups.push(() => store.close());
    const sink = createHttpSink({ name: o.sink ?? 'siem', format: 'http', url: col.url, batchSize: 16, timeoutMs: 2_000, headers: {}, sourcetype: 's', source: 's', productVersion: 't' }, 'h');
    const p = pipelineOf({ outbox: openOutboxRepo(store), sinks: [sink], owner, config: testConfig({ spill_path: join(tempDir(), 's.jsonl'), lease_ms: o.leaseMs ?? 5_000 }) });
    cleanups.push(() => p.close());
    await p.start();
    return p;
  }

  it('each event is delivered once per sink while both replicas emit concurrently, per-replica order kept', async () => {
    const col = await startCollector();
    cleanups.push(() => col.close());
    const [a, b] = [await replica(col, 'r1'), await replica(col, 'r2')];
    const emitAll = async (p: EventPipeline, tag: string): Promise<void> => {
      for (let i = 0; i < 80; i++) await p.emit(adminEvent(i, { id: `${tag}_${String(i).padStart(3, '0')}` }));
    };
    await Promise.all([emitAll(a, 'a'), emitAll(b, 'b')]);
    await waitFor(() => new Set(idsOf(col.received)).size === 160, 20_000, '160 events');
    await new Promise((r) => setTimeout(r, 300));
    const ids = idsOf(col.received);
    assert.equal(ids.length, 160, 'no event delivered twice');
    for (const tag of ['a', 'b']) {
      const mine = ids.filter((id) => id.startsWith(tag + '_'));
      assert.deepEqual(mine, [...mine].sort(), `replica ${tag}'s events arrive in emit order`);
    }
  });

  it('when the replica holding the lease dies, another takes over after the lease expires', async () => {
    const col = await startCollector();
    cleanups.push(() => col.close());
    col.down = true;
    const a = await replica(col, 'holder', { leaseMs: 800, sink: 'failover' });
    await a.emit(adminEvent(1, { id: 'failover_1' }));
    await waitFor(async () => (await a.health()).sinks[0]?.last_error !== null, 5_000, 'holder attempted delivery');
    await a.close(); // the lease stays in the table, as after a crash
    const b = await replica(col, 'successor', { leaseMs: 800, sink: 'failover' });
    await b.emit(adminEvent(2, { id: 'failover_2' }));
    col.down = false;
    await waitFor(() => idsOf(col.received).includes('failover_2'), 10_000, 'successor delivers');
    assert.deepEqual(idsOf(col.received).filter((id) => id.startsWith('failover_')), ['failover_1', 'failover_2']);
  });
});
