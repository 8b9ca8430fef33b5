import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import pg from 'pg';
import { eventually, finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { chainEntriesFor, verifiedTrail } from './trail.ts';

/**
 * Writer ownership on one PostgreSQL database, replicas in this process (the multi-process fleet suite kills real
 * processes): a replica's start touches nothing of the others; a replica taken for dead has its in-flight exchanges
 * ended once, by one live replica, and that end is chained.
 */
describe('fleet: replica ownership and lease recovery (PostgreSQL)', () => {
  let pgs: TestPostgres;
  let a: TestGateway;
  const masterKey = randomBytes(32).toString('base64');
  // A slow stream (60 chunks 50 ms apart): long enough to start another replica while it runs.
  const slow = { mockChunks: 60, mockDelayMs: 50 };
  // One process here, so one default writer id: each replica is given its own chain, as separate processes have.
  const writer = (id: string): string => `audit:\n  writer_id: ${id}`;
  before(async () => {
    pgs = await startTestPostgres();
    a = await startTestGateway({ storeUrl: pgs.url, masterKey, ...slow, extraYaml: writer('replica-a') });
  });
  after(async () => {
    await a.close();
    await pgs.stop();
  });

  async function openStream(gw: TestGateway, text: string) {
    const client = new OpenAI({ baseURL: gw.openaiBase, apiKey: gw.userKey, maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: text }] }).withResponse();
    const it = data[Symbol.asyncIterator]();
    await it.next(); // the first chunk: the exchange is recorded and streaming
    return { id: response.headers.get('x-portcullis-exchange-id')!, rest: async () => { for (let r = await it.next(); !r.done; r = await it.next()); } };
  }

  it("starting another replica leaves this replica's in-flight stream alone: it completes and is recorded completed", async () => {
    const s = await openStream(a, 'long answer while b starts');
    const b = await startTestGateway({ storeUrl: pgs.url, masterKey, extraYaml: writer('replica-b') });
    try {
      const during = await b.gw.store.exchanges.get(s.id);
      assert.equal(during?.status, 'in_progress', `after replica b started, a's stream is ${during?.status}/${during?.errorCode} (b's start must not touch it)`);
      assert.equal(during?.owner, a.gw.replica.id);
      await s.rest();
      const row = await finishedExchange(a.gw, s.id);
      assert.equal(row.status, 'completed', `a's exchange ended ${row.status}/${row.errorCode}`);
      // The row's finish and its chain entry are separate commits on PostgreSQL: wait for the entry, then compare.
      const chain = await eventually(async () => {
        const entries = await chainEntriesFor(pgs.url, s.id);
        return entries.length >= 2 ? entries : undefined;
      }, 15_000).catch(async () => chainEntriesFor(pgs.url, s.id));
      assert.deepEqual(chain.map((e) => [e.kind, e.status]), [['exchange.started', null], ['exchange.finished', 'completed']]);
    } finally {
      await b.close();
    }
  });

  it('a replica taken for dead: live replicas recovering at once end each of its exchanges exactly once, chained; the trail verifies', async () => {
    const b = await startTestGateway({ storeUrl: pgs.url, masterKey, extraYaml: writer('replica-b') });
    // The victim never renews its lease by itself (ten minutes between beats); the test expires it as a crash would.
    const victim = await startTestGateway({ storeUrl: pgs.url, masterKey, ...slow, extraYaml: writer('victim'), store: { lease: { heartbeat_interval_ms: 600_000, ttl_ms: 3_600_000 } } });
    try {
      const streams = await Promise.all([openStream(victim, 'one'), openStream(victim, 'two')]);
      const mine = await openStream(a, 'a keeps serving');
      const db = new pg.Client({ connectionString: pgs.url });
      await db.connect();
      // The client has its first chunk once the gateway wrote it; its stored segment is group-committed a moment
      // later. The crash comes after it is stored (what a crash before that loses is not this test's question).
      for (const s of streams) {
        // count(*) is an int8: a number or a string, as the process's pg type parsers say (src/store/postgres sets Number).
        await eventually(async () => (Number((await db.query<{ n: unknown }>('SELECT count(*) AS n FROM exchange_segments WHERE exchange_id = $1', [s.id])).rows[0]!.n) > 0 ? true : undefined), 15_000);
      }
      await db.query('UPDATE replica_leases SET expires_at = 0 WHERE id = $1', [victim.gw.replica.id]);
      await db.end();
      const ended = await Promise.all([a.gw.replica.recover(false), b.gw.replica.recover(false)]);
      assert.equal(ended[0] + ended[1], 2, `recovered by a: ${ended[0]}, by b: ${ended[1]} (expected 2 in all)`);
      for (const s of streams) {
        const row = await a.gw.store.exchanges.get(s.id);
        assert.equal(row?.status, 'incomplete');
        assert.equal(row?.errorCode, 'replica_lost');
        assert.ok((row?.eventCount ?? 0) >= 1, 'the events streamed before the recovery are counted from the stored segments');
        const chain = await chainEntriesFor(pgs.url, s.id);
        assert.deepEqual(chain.map((e) => [e.kind, e.status, e.errorCode]), [['exchange.started', null, null], ['exchange.finished', 'incomplete', 'replica_lost']],
          `chain entries of a recovered exchange: ${JSON.stringify(chain)}`);
        assert.notEqual(chain[1]!.writer, chain[0]!.writer, 'the end is chained by the recovering replica');
      }
      assert.equal((await a.gw.store.exchanges.get(mine.id))?.status, 'in_progress', "a live replica's exchange is not touched");
      await mine.rest();
      assert.equal((await finishedExchange(a.gw, mine.id)).status, 'completed');
      assert.equal((await a.gw.replica.recover(false)) + (await b.gw.replica.recover(false)), 0, 'nothing is recovered twice');
      const leases = await a.gw.store.replicas.list();
      assert.ok(!leases.some((l) => l.id === victim.gw.replica.id), 'the dead lease is pruned once it owns nothing in progress');
      await Promise.all(streams.map((s) => s.rest().catch(() => undefined)));
    } finally {
      await victim.close();
      await b.close();
    }
    const writers = (await verifiedTrail(a.gw.evidence.audit.repo)).writers.map((w) => w.writer);
    for (const w of ['replica-a', 'replica-b', 'victim']) assert.ok(writers.includes(w), `chain of ${w} verified (writers: ${writers.join(', ')})`);
  });
});
