import assert from 'node:assert/strict';
import { describe, it, before, after } from 'node:test';
import { newId } from '../core/ids.ts';
import type { ApiKeyRecord, ExchangeFinish, ExchangeStart, Store } from './ports.ts';

/**
 * One behavioural suite for every Store implementation (STYLE.md #7): SQLite runs it now; PostgreSQL must pass
 * the same tests unchanged.
 */
export function storeConformance(name: string, open: () => Promise<Store>): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store.close();
    });

    const key = (over: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
      id: newId('k').slice(-8).toLowerCase(),
      hash: 'ab'.repeat(32),
      subject: 'user:alice',
      kind: 'user',
      displayName: 'alice',
      groups: ['eng', 'ml'],
      createdAt: 1000,
      createdBy: 'test',
      expiresAt: null,
      revokedAt: null,
      description: null,
      ...over,
    });

    it('creates, reads, lists and revokes api keys', async () => {
      const k = key();
      await store.apiKeys.create(k);
      assert.deepEqual(await store.apiKeys.get(k.id), k);
      assert.ok((await store.apiKeys.list()).some((r) => r.id === k.id));
      assert.equal(await store.apiKeys.revoke(k.id, 2000), true);
      assert.equal(await store.apiKeys.revoke(k.id, 3000), false, 'second revoke is a no-op');
      assert.equal((await store.apiKeys.get(k.id))?.revokedAt, 2000);
      assert.equal(await store.apiKeys.get('nope0000'), undefined);
    });

    it('rejects a duplicate key id', async () => {
      const k = key();
      await store.apiKeys.create(k);
      await assert.rejects(store.apiKeys.create(k));
    });

    const start = (over: Partial<ExchangeStart> = {}): ExchangeStart => ({
      id: newId('ex'),
      startedAt: Date.now(),
      subject: 'user:alice',
      principal: { kind: 'user', groups: ['eng'] },
      endpoint: 'openai.chat',
      method: 'POST',
      path: '/v1/chat/completions',
      model: 'gpt-4o',
      provider: 'mock',
      upstreamModel: 'gpt-4o',
      stream: true,
      clientIp: '127.0.0.1',
      userAgent: 'test',
      decision: { effect: 'allow' },
      findings: [],
      clientRequest: Buffer.from([1, 2, 3]),
      upstreamRequest: null,
      ...over,
    });
    const finish = (id: string, over: Partial<ExchangeFinish> = {}): ExchangeFinish => ({
      id,
      finishedAt: Date.now(),
      status: 'completed',
      httpStatus: 200,
      errorCode: null,
      timings: { upstreamFirstByteMs: 1, clientFirstByteMs: 2, totalMs: 3 },
      usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 },
      response: null,
      eventCount: 2,
      responseFindings: [],
      forwarded: true,
      ...over,
    });

    it('records an exchange: start, segments in order, finish, bodies', async () => {
      const s = start();
      await store.exchanges.start(s);
      assert.equal((await store.exchanges.get(s.id))?.status, 'in_progress');
      await Promise.all([store.exchanges.appendSegment(s.id, 0, Buffer.from('a')), store.exchanges.appendSegment(s.id, 1, Buffer.from('b'))]);
      await store.exchanges.finish(finish(s.id));
      const row = await store.exchanges.get(s.id);
      assert.equal(row?.status, 'completed');
      assert.equal(row?.forwarded, true);
      assert.deepEqual(row?.usage, { inputTokens: 1, outputTokens: 2, totalTokens: 3 });
      assert.deepEqual(row?.decision, { effect: 'allow' });
      const bodies = await store.exchanges.bodies(s.id);
      assert.deepEqual(bodies?.clientRequest, Buffer.from([1, 2, 3]));
      assert.deepEqual(bodies?.segments.map((x) => x.sealed.toString()), ['a', 'b']);
    });

    it('refuses to finish an exchange twice or one that was never started', async () => {
      const s = start();
      await store.exchanges.start(s);
      await store.exchanges.finish(finish(s.id));
      await assert.rejects(store.exchanges.finish(finish(s.id)));
      await assert.rejects(store.exchanges.finish(finish('ex_missing')));
    });

    it('a failing call made together with others does not undo them', async () => {
      const a = start();
      const b = start();
      const twice = await Promise.allSettled([store.exchanges.start(a), store.exchanges.start(a)]);
      assert.deepEqual(twice.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'exactly one of two identical starts wins');
      const mixed = await Promise.allSettled([store.exchanges.start(b), store.exchanges.start(a), store.exchanges.appendSegment(a.id, 0, Buffer.from('x'))]);
      assert.deepEqual(mixed.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.ok(await store.exchanges.get(a.id));
      assert.ok(await store.exchanges.get(b.id));
    });

    it('many exchanges recorded at once by many callers: each start is there when it resolves, each end applies once, a refused call fails alone', async () => {
      const subject = `user:${newId('u')}`;
      const starts = Array.from({ length: 40 }, () => start({ subject }));
      await Promise.all(starts.map(async (s, i) => {
        await store.exchanges.start(s);
        assert.equal((await store.exchanges.get(s.id))?.status, 'in_progress', `start ${i} is stored once it resolved`);
      }));
      const refused = start({ subject, stream: false });
      // Ends of all of them together, plus a second end of one, a start of an id already taken, and a rejected request.
      const settled = await Promise.allSettled([
        ...starts.map((s, i) => store.exchanges.finish(finish(s.id, { httpStatus: 200 + i }))),
        store.exchanges.finish(finish(starts[7]!.id)),
        store.exchanges.start(starts[3]!),
        store.exchanges.recordRejected(refused, finish(refused.id, { status: 'rejected', httpStatus: 403, forwarded: false, eventCount: 0 })),
      ]);
      assert.deepEqual(settled.map((r) => r.status), [...starts.map(() => 'fulfilled'), 'rejected', 'rejected', 'fulfilled']);
      const rows = await store.exchanges.list({ subject, limit: 100 });
      assert.equal(rows.length, 41);
      for (const [i, s] of starts.entries()) {
        const row = rows.find((r) => r.id === s.id);
        assert.equal(row?.status, 'completed');
        assert.equal(row.httpStatus, 200 + i, 'the first end stands: the second one changed nothing');
      }
      assert.equal(rows.find((r) => r.id === refused.id)?.status, 'rejected');
    });

    it('lists newest first with filters and pagination', async () => {
      const subject = `user:${newId('u')}`;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const s = start({ subject, id: newId('ex', 1_000_000 + i), model: i % 2 ? 'claude' : 'gpt-4o' });
        ids.push(s.id);
        await store.exchanges.recordRejected(s, finish(s.id, { status: 'rejected', httpStatus: 403, errorCode: 'policy_denied', forwarded: false }));
      }
      const page1 = await store.exchanges.list({ subject, limit: 2 });
      assert.deepEqual(page1.map((r) => r.id), [ids[4], ids[3]]);
      const page2 = await store.exchanges.list({ subject, limit: 2, before: page1[1]!.id });
      assert.deepEqual(page2.map((r) => r.id), [ids[2], ids[1]]);
      const claude = await store.exchanges.list({ subject, model: 'claude' });
      assert.equal(claude.length, 2);
      assert.equal(claude[0]?.errorCode, 'policy_denied');
      assert.equal(claude[0]?.forwarded, false, 'a refusal is stored as never sent');
      assert.equal((await store.exchanges.list({ subject, limit: 1 }))[0]?.forwarded, false);
      // By error code (a dashboard's refusal reason): every one of these, and none for another code.
      assert.equal((await store.exchanges.list({ subject, errorCode: 'policy_denied' })).length, 5);
      assert.equal((await store.exchanges.list({ subject, errorCode: 'content_blocked' })).length, 0);
    });

    it('interrupt ends an exchange once; a second interrupt or a finish after it changes nothing', async () => {
      const s = start();
      await store.exchanges.start(s);
      const ended = finish(s.id, { status: 'incomplete', errorCode: 'replica_lost', httpStatus: null });
      const both = await Promise.all([store.exchanges.interrupt(ended), store.exchanges.interrupt(ended)]);
      assert.deepEqual(both.sort(), [false, true], 'two concurrent recoverers: exactly one ends it');
      await assert.rejects(store.exchanges.finish(finish(s.id)), 'the serving replica can no longer claim a finish');
      await assert.rejects(store.exchanges.appendSegment(s.id, 0, Buffer.from('late')), 'nor add stream segments after the end was recorded');
      assert.deepEqual((await store.exchanges.bodies(s.id))?.segments, []);
      assert.equal((await store.exchanges.get(s.id))?.errorCode, 'replica_lost');
      assert.equal(await store.exchanges.interrupt(finish('ex_missing')), false);
    });

    it('replica leases: only exchanges of dead or missing owners are orphaned; live owners are untouched', async () => {
      const now = 1_000_000;
      const lease = (id: string, expiresAt: number) => ({ id, writer: id.split('.')[0]!, startedAt: now - 10, heartbeatAt: now - 5, expiresAt });
      const tag = newId('r').slice(-6);
      const [me, live, dead, gone] = ['me', 'live', 'dead', 'gone'].map((n) => `${n}-${tag}.x`) as [string, string, string, string];
      assert.equal(await store.replicas.heartbeat(lease(me, now + 100)), true, 'first beat creates the lease');
      assert.equal(await store.replicas.heartbeat(lease(me, now + 200)), false, 'later beats renew it');
      await store.replicas.heartbeat(lease(live, now + 100));
      await store.replicas.heartbeat(lease(dead, now - 1));
      const mine = start({ owner: me });
      const theirs = start({ owner: live });
      const deadOnes = [start({ owner: dead }), start({ owner: dead })];
      const goneOne = start({ owner: gone });
      const legacy = start({ owner: null, startedAt: 10 });
      for (const x of [mine, theirs, ...deadOnes, goneOne, legacy]) await store.exchanges.start(x);
      const q = { now, self: me, othersDead: false, unownedBefore: 100, limit: 1000 };
      const orphans = (await store.replicas.orphaned(q)).map((r) => r.id);
      for (const x of [...deadOnes, goneOne, legacy]) assert.ok(orphans.includes(x.id), `${x.owner ?? 'unowned'} exchange is orphaned`);
      for (const x of [mine, theirs]) assert.ok(!orphans.includes(x.id), `${x.owner ?? ''} exchange is not orphaned`);
      assert.equal((await store.replicas.orphaned({ ...q, unownedBefore: 5 })).some((r) => r.id === legacy.id), false, 'unowned rows wait for unownedBefore');
      assert.equal((await store.exchanges.get(deadOnes[0]!.id))?.owner, dead);
      assert.equal(await store.replicas.prune(q), 0, 'the dead lease still owns exchanges: kept');
      for (const x of deadOnes) await store.exchanges.interrupt(finish(x.id, { status: 'incomplete', errorCode: 'replica_lost' }));
      assert.equal(await store.replicas.prune(q), 1, 'now pruned');
      assert.deepEqual((await store.replicas.list()).map((l) => l.id).filter((id) => id.endsWith(`${tag}.x`)).sort(), [live, me].sort());
      const single = (await store.replicas.orphaned({ ...q, othersDead: true })).map((r) => r.id);
      assert.ok(single.includes(theirs.id) && !single.includes(mine.id), 'a single-process store at start treats every other lease as dead');
      await store.replicas.release(me);
      assert.ok((await store.replicas.orphaned({ ...q, self: live })).some((r) => r.id === mine.id), 'a released lease no longer protects its exchanges');
      for (const x of [mine, theirs, goneOne, legacy]) await store.exchanges.interrupt(finish(x.id, { status: 'incomplete' }));
    });

    it('token vault: insert-if-absent, conflicts refused whole, expiry honoured', async () => {
      const conv = `conv-${newId('c')}`;
      const row = (p: string, mac: string) => ({ placeholder: p, valueMac: mac, sealed: Buffer.from(`s-${p}-${mac}`) });
      assert.deepEqual(await store.tokenVault.put(conv, [row('A_1', 'm1'), row('B_1', 'm2')], 1_000), []);
      assert.deepEqual(await store.tokenVault.put(conv, [row('A_1', 'm1'), row('C_1', 'm3')], 2_000), [], 'same mapping again is fine');
      const conflicts = await store.tokenVault.put(conv, [row('A_1', 'other'), row('D_1', 'm4')], 2_000);
      assert.ok(conflicts.includes('A_1'));
      const rows = await store.tokenVault.get(conv, 1_500);
      assert.deepEqual(rows.map((r) => r.placeholder).sort(), ['A_1', 'B_1', 'C_1'], 'the conflicting put wrote nothing; expiry was extended');
      assert.deepEqual(rows.find((r) => r.placeholder === 'A_1')?.sealed, Buffer.from('s-A_1-m1'));
      assert.deepEqual(await store.tokenVault.get(conv, 2_500), []);
      assert.ok((await store.tokenVault.purgeExpired(2_500)) >= 3);

      // The expiry of rows with enough time left is not rewritten (a long conversation's rows are not rewritten on
      // every put); rows below `refreshBelow` are pushed, new rows get `expiresAt`.
      const long = `conv-${newId('c')}`;
      assert.deepEqual(await store.tokenVault.put(long, [row('X_1', 'm1')], 3_000), []);
      assert.deepEqual(await store.tokenVault.put(long, [row('Y_1', 'm2')], 4_000, 2_500), []);
      assert.deepEqual((await store.tokenVault.get(long, 3_500)).map((r) => r.placeholder), ['Y_1'], 'X_1 kept its expiry (3000 ≥ 2500)');
      assert.deepEqual(await store.tokenVault.put(long, [row('Z_1', 'm3')], 6_000, 5_000), []);
      assert.deepEqual((await store.tokenVault.get(long, 5_500)).map((r) => r.placeholder).sort(), ['X_1', 'Y_1', 'Z_1'], 'rows below 5000 pushed to 6000');
      assert.deepEqual(await store.tokenVault.get(long, 6_000), []);
    });

    it('stores provider credentials write-only (sealed bytes in, listing without them)', async () => {
      await store.credentials.put('openai', Buffer.from('sealed-1'), 10, 'admin');
      await store.credentials.put('openai', Buffer.from('sealed-2'), 20, 'admin');
      assert.deepEqual((await store.credentials.get('openai'))?.sealed, Buffer.from('sealed-2'));
      const list = await store.credentials.list();
      assert.deepEqual(list.find((c) => c.provider === 'openai'), { provider: 'openai', updatedAt: 20, updatedBy: 'admin' });
      assert.ok(!JSON.stringify(list).includes('sealed'));
    });
  });
}
