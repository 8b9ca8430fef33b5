import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { GatewayLogger, LogFields } from '../../core/logger.ts';
import { storeConformance } from '../conformance.ts';
import { PostgresStore } from './index.ts';
import { newId } from '../../core/ids.ts';
import { entryHash, GENESIS_HASH, type AuditEntry } from '../../audit/chain.ts';
import type { AppendInput } from '../../audit/repo.ts';
import type { CounterIncrement } from '../../policy/budgets/counters.ts';
import { BudgetEnforcer } from '../../policy/budgets/enforcer.ts';
import { createUsageObserver } from '../../policy/budgets/usage-observer.ts';
import { budgetCountersFor } from '../budget-counters.ts';
import type { ExchangeFinish, ExchangeStart } from '../ports.ts';
import { postgresAuditRepo } from './audit.ts';
import { PostgresRecording } from './recording.ts';
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

describe('postgres store: recording group commit (recording.ts)', () => {
  const exchange = (over: Partial<ExchangeStart> = {}): ExchangeStart => ({
    id: newId('ex'), startedAt: Date.now(), subject: 'user:gc', principal: { kind: 'user' }, endpoint: 'openai.chat', method: 'POST',
    path: '/v1/chat/completions', model: 'gpt-4o', provider: 'mock', upstreamModel: 'gpt-4o', stream: false, clientIp: '127.0.0.1',
    userAgent: 'test', decision: null, findings: [], clientRequest: Buffer.from('sealed request'), upstreamRequest: null, ...over,
  });
  const ending = (id: string, over: Partial<ExchangeFinish> = {}): ExchangeFinish => ({
    id, finishedAt: Date.now(), status: 'completed', httpStatus: 200, errorCode: null, timings: { upstreamFirstByteMs: 1, clientFirstByteMs: 2, totalMs: 3 },
    usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 }, response: Buffer.from('sealed response'), eventCount: 0, responseFindings: [], forwarded: true, ...over,
  });
  const entryAbout = (id: string, phase: 'start' | 'finish', at = Date.now()): AppendInput => ({
    at, kind: phase === 'start' ? 'exchange.started' : 'exchange.finished', subject: 'user:gc', refId: id, payloadJson: '{"n":1}',
    digestBodies: { exchangeId: id, phase, inPayload: true },
  });
  const plain = (n: number): AppendInput => ({ at: 1000 + n, kind: 'test.entry', subject: null, refId: null, payloadJson: `{"n":${n}}` });

  /** The store's recording writes, counted per transaction (BEGIN … COMMIT) and per single-statement batch. */
  function counted(store: PostgresStore): { rec: PostgresRecording; batches: () => number } {
    let batches = 0;
    const rec = new PostgresRecording({
      query: (text, args) => (batches++, store.query(text, args)),
      transaction: (fn) => (batches++, store.transaction(fn)),
    });
    return { rec, batches: () => batches };
  }

  async function chainOf(store: PostgresStore, writer: string): Promise<AuditEntry[]> {
    const repo = postgresAuditRepo(store);
    return repo.entries({ writer, afterSeq: 0, limit: 100_000 });
  }

  function assertChained(entries: AuditEntry[]): void {
    entries.forEach((e, i) => {
      assert.equal(e.seq, i + 1, 'contiguous seqs');
      assert.equal(e.prev, i === 0 ? GENESIS_HASH : entries[i - 1]!.hash, `entry ${e.seq} links to its predecessor`);
      assert.equal(entryHash(e), e.hash, `entry ${e.seq} hashes to what is stored`);
    });
  }

  it('calls made together from many exchanges share one transaction; every start is durable when it resolves; entries keep call order', async () => {
    const store = await PostgresStore.open(pgServer.url, { pool: { pool_max: 4 } });
    try {
      const { rec, batches } = counted(store);
      const writer = `gc-order-${randomBytes(4).toString('hex')}`;
      const starts = Array.from({ length: 60 }, () => exchange());
      await Promise.all(starts.map(async (s) => {
        await rec.start(s);
        // Durable when it resolves: visible to another connection at once.
        assert.equal((await sql(pgServer.url, 'SELECT status FROM exchanges WHERE id = $1', [s.id])).rows[0]?.status, 'in_progress');
      }));
      assert.equal(batches(), 1, '60 starts made together: one batch');
      // Each exchange's chain entry, finish, end entry and session, made together by many callers at once.
      const seqs = await Promise.all(starts.map((s) => rec.append(writer, entryAbout(s.id, 'start'))));
      assert.deepEqual(seqs.map((e) => e.seq), starts.map((_, i) => i + 1), 'chained in call order');
      const before = batches();
      const [ended, finishedEntries, sessions] = await Promise.all([
        Promise.all(starts.map((s) => rec.end(ending(s.id)))),
        Promise.all(starts.map((s) => rec.append(writer, entryAbout(s.id, 'finish')))),
        Promise.all(starts.map((s) => rec.assignSession({ exchangeId: s.id, at: s.startedAt, subject: s.subject, client: 'c|test', key: null, source: 'time-gap', gapMs: 60_000 }))),
      ]);
      assert.equal(batches() - before, 1, 'ends, their entries and sessions of 60 exchanges: one transaction');
      assert.ok(ended.every(Boolean));
      assert.deepEqual(finishedEntries.map((e) => e.seq), starts.map((_, i) => 61 + i));
      assert.equal(new Set(sessions).size, 1, 'one conversation: a later assignment in the batch sees the session an earlier one opened');
      assert.equal((await sql(pgServer.url, 'SELECT exchange_count FROM audit_sessions WHERE id = $1', [sessions[0]])).rows[0]?.exchange_count, 60);
      const chain = await chainOf(store, writer);
      assert.equal(chain.length, 120);
      assertChained(chain);
    } finally {
      await store.close();
    }
  });

  it('a batch whose transaction fails (connection lost mid-batch) fails every caller in it: nothing of it is committed or reported durable, and the chain goes on', async () => {
    const store = await PostgresStore.open(pgServer.url, { pool: { pool_max: 4 } });
    const locker = new pg.Client({ connectionString: pgServer.url });
    await locker.connect();
    try {
      const writer = `gc-fail-${randomBytes(4).toString('hex')}`;
      await store.recording.append(writer, plain(0)); // seq 1, and a cached head
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE audit_entries IN EXCLUSIVE MODE'); // the batch's INSERT waits here
      const starts = Array.from({ length: 5 }, () => exchange());
      const calls = [
        ...starts.map((s) => store.recording.start(s)),
        ...starts.map((s) => store.recording.append(writer, entryAbout(s.id, 'start'))),
        store.recording.count([{ limitId: 'gc-fail', metric: 'requests_per_minute', scope: writer, windowStart: 0, by: 1, expiresAt: Date.now() + 60_000 }]),
      ];
      // Observed at once: the calls reject while the test is still terminating their backend, and a rejection
      // nobody observes yet fails the test as unhandled.
      const settling = Promise.allSettled(calls);
      // Inside the locker's transaction pg_stat_activity is one snapshot until cleared (PostgreSQL docs, 28.2.2).
      const waiting = `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit_entries%'`;
      await eventually(async () => {
        await locker.query('SELECT pg_stat_clear_snapshot()');
        return (await locker.query(waiting)).rowCount! >= 1 ? true : undefined;
      }, 30_000);
      await locker.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
        AND query LIKE 'INSERT INTO audit_entries%'`);
      const settled = await settling;
      assert.deepEqual(settled.map((s) => s.status), calls.map(() => 'rejected'), 'every caller of the failed batch is rejected');
      await locker.query('ROLLBACK');
      const ids = starts.map((s) => s.id);
      assert.equal((await sql(pgServer.url, 'SELECT count(*)::int AS n FROM exchanges WHERE id = ANY($1)', [ids])).rows[0]?.n, 0, 'no start of the batch was committed');
      assert.equal((await sql(pgServer.url, "SELECT count(*)::int AS n FROM budget_counters WHERE limit_id = 'gc-fail'")).rows[0]?.n, 0);
      assert.equal((await chainOf(store, writer)).length, 1, 'no entry of the batch was committed');
      // The next batch works, and chains on from the committed head (not from what the failed batch computed).
      const s = exchange();
      await store.recording.start(s);
      assert.equal((await store.recording.append(writer, entryAbout(s.id, 'start'))).seq, 2);
      assertChained(await chainOf(store, writer));
    } finally {
      await locker.end().catch(() => undefined);
      await store.close();
    }
  });

  it('a call the database refuses fails alone: its batch is retried one call per transaction and the others commit', async () => {
    const store = await PostgresStore.open(pgServer.url, { pool: { pool_max: 4 } });
    try {
      const writer = `gc-poison-${randomBytes(4).toString('hex')}`;
      const good = Array.from({ length: 4 }, () => exchange());
      const bad = exchange({ userAgent: 'evil\u0000agent' }); // PostgreSQL text cannot hold NUL: the INSERT fails
      const all = [good[0]!, good[1]!, bad, good[2]!, good[3]!];
      const settled = await Promise.allSettled([...all.map((s) => store.recording.start(s)), store.recording.append(writer, plain(1))]);
      assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
      const rows = await sql(pgServer.url, 'SELECT id FROM exchanges WHERE id = ANY($1)', [all.map((s) => s.id)]);
      assert.deepEqual(new Set(rows.rows.map((r) => r.id as string)), new Set(good.map((s) => s.id)));
      // An entry about the refused exchange fails (it is not recorded); one about a recorded one does not.
      const [badEntry, goodEntry] = await Promise.allSettled([store.recording.append(writer, entryAbout(bad.id, 'start')), store.recording.append(writer, entryAbout(good[0]!.id, 'start'))]);
      assert.equal(badEntry.status, 'rejected');
      assert.match(String((badEntry).reason), /is not recorded/);
      assert.equal(goodEntry.status === 'fulfilled' && goodEntry.value.seq, 2, 'the failed check took no seq');
      assertChained(await chainOf(store, writer));
    } finally {
      await store.close();
    }
  });

  it('an end that finds its exchange already ended fails alone in its batch; an entry about an exchange not ended yet is refused', async () => {
    const store = await PostgresStore.open(pgServer.url, { pool: { pool_max: 4 } });
    try {
      const [a, b, c] = [exchange(), exchange(), exchange()];
      await Promise.all([a, b, c].map((s) => store.recording.start(s)));
      await store.exchanges.interrupt(ending(b.id, { status: 'incomplete', forwarded: null }));
      const writer = `gc-end-${randomBytes(4).toString('hex')}`;
      const settled = await Promise.allSettled([store.exchanges.finish(ending(a.id)), store.exchanges.finish(ending(b.id)), store.recording.append(writer, entryAbout(c.id, 'finish'))]);
      assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'rejected']);
      assert.match(String((settled[2] as PromiseRejectedResult).reason), /has no recorded finish/);
      assert.equal((await store.exchanges.get(b.id))?.status, 'incomplete', 'the recovered end stands');
      assert.equal(await store.exchanges.interrupt(ending(a.id, { status: 'incomplete' })), false);
    } finally {
      await store.close();
    }
  });

  it('two processes appending as one writer never fork the chain: a stale cached head collides on (writer, seq) and is read again', async () => {
    const one = await PostgresStore.open(pgServer.url, { pool: { pool_max: 2 } });
    const two = await PostgresStore.open(pgServer.url, { pool: { pool_max: 2 } });
    try {
      const writer = `gc-two-${randomBytes(4).toString('hex')}`;
      for (let i = 0; i < 6; i++) {
        // Each store's cache is stale after the other's append.
        await one.recording.append(writer, plain(2 * i));
        await two.recording.append(writer, plain(2 * i + 1));
      }
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).recording.append(writer, plain(100 + i))));
      const chain = await chainOf(one, writer);
      assert.equal(chain.length, 32);
      assertChained(chain);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('three processes appending as one writer at the same time: every append succeeds, one unforked chain', async () => {
    const stores = await Promise.all([0, 1, 2].map(() => PostgresStore.open(pgServer.url, { pool: { pool_max: 2 } })));
    try {
      const writer = `gc-race-${randomBytes(4).toString('hex')}`;
      // Three appenders as one writer (a writer_id shared by mistake), each appending one after another while the
      // others do: every cached head is stale almost at once, and a retry under the lock meets another's write.
      await Promise.all(stores.map(async (store, k) => {
        for (let i = 0; i < 40; i++) await store.recording.append(writer, plain(k * 100 + i));
      }));
      const chain = await chainOf(stores[0]!, writer);
      assert.equal(chain.length, 120);
      assertChained(chain);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('three processes assigning the same new conversations at once open one session each (the identity lock is taken by the session statement)', async () => {
    const stores = await Promise.all([0, 1, 2].map(() => PostgresStore.open(pgServer.url, { pool: { pool_max: 2 } })));
    try {
      const subject = `user:gc-ses-${randomBytes(4).toString('hex')}`;
      const conversations = 12;
      // Round by round, every process continues or opens the same conversation at the same moment: without the
      // lock, two of them find no session and each opens one.
      for (let c = 0; c < conversations; c++) {
        await Promise.all(stores.flatMap((store) => Array.from({ length: 4 }, () => store.recording.assignSession({
          exchangeId: newId('ex'), at: Date.now(), subject, client: `c|${c}`, key: null, source: 'time-gap', gapMs: 60_000,
        }))));
      }
      const rows = (await sql(pgServer.url, 'SELECT client, exchange_count FROM audit_sessions WHERE subject = $1 ORDER BY client', [subject])).rows;
      assert.equal(rows.length, conversations, `one session per conversation, saw ${JSON.stringify(rows)}`);
      assert.ok(rows.every((r) => r.exchange_count === 12), 'each holds the 12 exchanges of its conversation');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("budget usage follows the record: a finish refused because another replica recovered the exchange counts nothing; a recorded one counts", async () => {
    const mine = await PostgresStore.open(pgServer.url, { pool: { pool_max: 2 } });
    const other = await PostgresStore.open(pgServer.url, { pool: { pool_max: 2 } });
    try {
      const subject = `user:gc-usage-${randomBytes(4).toString('hex')}`;
      const enforcer = new BudgetEnforcer({ counters: budgetCountersFor(mine, 'store'), budgets: { limits: [{ id: 'tokens', tokens_per_day: 1_000_000 }] } });
      const observer = createUsageObserver(enforcer);
      const used = async (): Promise<number> => (await enforcer.usage({ scope: subject })).find((r) => r.metric === 'tokens_per_day')?.used ?? 0;
      const [lost, kept] = [exchange({ subject }), exchange({ subject })];
      await Promise.all([lost, kept].map((s) => mine.exchanges.start(s)));
      // This replica was taken for dead: another ended its exchange (recovery records no usage).
      const unknown = { inputTokens: null, outputTokens: null, totalTokens: null };
      assert.equal(await other.exchanges.interrupt(ending(lost.id, { status: 'incomplete', errorCode: 'replica_lost', usage: unknown })), true);
      // A finish as the recorder makes it (writeThenObserve): the end and the observers' writes issued together.
      const finish = (s: ExchangeStart): Promise<PromiseSettledResult<void>[]> => {
        const fin = ending(s.id, { usage: { inputTokens: 10, outputTokens: 20, totalTokens: 30 } });
        return Promise.allSettled([mine.exchanges.finish(fin), observer.onFinish!(s, fin)]);
      };
      assert.deepEqual((await finish(lost)).map((r) => r.status), ['rejected', 'rejected'], 'the refused end takes its usage with it');
      assert.equal(await used(), 0, 'the usage of a finish that is not recorded is not counted');
      assert.deepEqual((await finish(kept)).map((r) => r.status), ['fulfilled', 'fulfilled']);
      assert.equal(await used(), 30, 'a recorded finish counts its usage');
    } finally {
      await mine.close();
      await other.close();
    }
  });

  it('budget increments in a batch: each caller sees the counter of its place in a serial order', async () => {
    const store = await PostgresStore.open(pgServer.url, { pool: { pool_max: 4 } });
    try {
      const scope = `gc-${randomBytes(4).toString('hex')}`;
      const inc = (by: number): CounterIncrement => ({ limitId: 'gc', metric: 'requests_per_minute', scope, windowStart: 0, by, expiresAt: Date.now() + 60_000 });
      const seen = await Promise.all(Array.from({ length: 40 }, (_, i) => store.recording.count([inc(1), inc(i + 1)])));
      // Call i adds 1 + (i + 1) = i + 2 to the one row, after every earlier call: it sees the sum up to and including
      // its own increments (as one statement alone would show it), never a later call's.
      let sum = 0;
      seen.forEach((v, i) => {
        sum += i + 2;
        assert.deepEqual(v, [sum, sum], `call ${i}`);
      });
    } finally {
      await store.close();
    }
  });
});

describe('postgres store: an end and its chain entry made together', () => {
  it('when another replica recovered the exchange first, the end fails and so does the entry queued with it: the exchange is chained as ended once', async () => {
    const mine = await PostgresStore.open(pgServer.url, { pool: { pool_max: 2 } });
    const other = await PostgresStore.open(pgServer.url, { pool: { pool_max: 2 } });
    try {
      assert.equal(mine.appliesCallsMadeTogetherInOrder, true);
      const id = newId('ex');
      await mine.exchanges.start({
        id, startedAt: Date.now(), subject: 'user:gc', principal: null, endpoint: 'openai.chat', method: 'POST', path: '/v1/chat/completions', model: null,
        provider: null, upstreamModel: null, stream: false, clientIp: null, userAgent: null, decision: null, findings: [], clientRequest: null, upstreamRequest: null,
      });
      const fin = (status: ExchangeFinish['status']): ExchangeFinish => ({
        id, finishedAt: Date.now(), status, httpStatus: 200, errorCode: null, timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: null },
        usage: { inputTokens: null, outputTokens: null, totalTokens: null }, response: null, eventCount: 0, responseFindings: [], forwarded: null,
      });
      assert.equal(await other.exchanges.interrupt(fin('incomplete')), true, 'the other replica ended it');
      const writer = `gc-twice-${randomBytes(4).toString('hex')}`;
      const entry: AppendInput = { at: Date.now(), kind: 'exchange.finished', subject: 'user:gc', refId: id, payloadJson: '{}', digestBodies: { exchangeId: id, phase: 'finish', inPayload: true } };
      const [end, chained] = await Promise.allSettled([mine.exchanges.finish(fin('completed')), mine.recording.append(writer, entry)]);
      assert.equal(end.status, 'rejected');
      assert.equal(chained.status, 'rejected');
      assert.match(String((chained).reason), /ended by another writer/);
      assert.equal((await postgresAuditRepo(mine).entries({ writer, afterSeq: 0, limit: 10 })).length, 0);
      // A later entry about an exchange this process did end is chained as usual.
      const ok = newId('ex');
      await mine.exchanges.start({
        id: ok, startedAt: Date.now(), subject: 'user:gc', principal: null, endpoint: 'openai.chat', method: 'POST', path: '/v1/chat/completions', model: null,
        provider: null, upstreamModel: null, stream: false, clientIp: null, userAgent: null, decision: null, findings: [], clientRequest: null, upstreamRequest: null,
      });
      const [, e] = await Promise.all([mine.exchanges.finish({ ...fin('completed'), id: ok }), mine.recording.append(writer, { ...entry, refId: ok, digestBodies: { exchangeId: ok, phase: 'finish', inPayload: true } })]);
      assert.equal(e.seq, 1);
    } finally {
      await mine.close();
      await other.close();
    }
  });
});
