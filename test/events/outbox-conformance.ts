import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { OutboxEvent, OutboxRepo } from '../../src/events/repo.ts';

/** One behavioural suite for every OutboxRepo implementation (STYLE.md #7). */
export function outboxConformance(name: string, open: () => Promise<{ repo: OutboxRepo; close(): Promise<void> }>): void {
  describe(`outbox conformance: ${name}`, () => {
    const closers: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of closers) await c().catch(() => undefined);
    });
    const ev = (i: number): OutboxEvent => ({ id: `e${i}`, at: 1000 + i, type: 't', body: `{"n":${i}}` });
    async function repo(): Promise<OutboxRepo> {
      const r = await open();
      closers.push(() => r.close());
      return r.repo;
    }

    it('enqueues in order, ignores a repeated id, enforces max backlog', async () => {
      const r = await repo();
      await r.enqueue([ev(1), ev(2), ev(3)], 5);
      await r.enqueue([ev(2)], 5);
      assert.equal(await r.size(), 3);
      await assert.rejects(r.enqueue([ev(4), ev(5), ev(6)], 5), /outbox full/);
      assert.equal(await r.size(), 3, 'a refused batch writes nothing');
      const got = await r.fetch({ sink: 's', owner: 'a', leaseMs: 1000, now: 0, limit: 10 });
      assert.deepEqual(got?.map((e) => e.id), ['e1', 'e2', 'e3']);
      assert.ok(got.every((e, i, all) => i === 0 || e.pos > all[i - 1]!.pos));
    });

    it('per-sink cursors, leases exclusive until expiry, backlog and prune', async () => {
      const r = await repo();
      await r.enqueue([ev(1), ev(2), ev(3), ev(4)], null);
      const a = await r.fetch({ sink: 'x', owner: 'a', leaseMs: 1000, now: 10, limit: 2 });
      assert.deepEqual(a?.map((e) => e.id), ['e1', 'e2']);
      assert.equal(await r.fetch({ sink: 'x', owner: 'b', leaseMs: 1000, now: 20, limit: 2 }), null, 'lease held by a');
      await r.ack('x', a[1]!.pos, 30);
      assert.deepEqual((await r.fetch({ sink: 'x', owner: 'a', leaseMs: 1000, now: 40, limit: 10 }))?.map((e) => e.id), ['e3', 'e4']);
      assert.deepEqual((await r.fetch({ sink: 'x', owner: 'b', leaseMs: 1000, now: 2000, limit: 1 }))?.map((e) => e.id), ['e3'], 'expired lease taken over');
      const [bx, by] = await r.backlog(['x', 'y']);
      assert.deepEqual([bx?.backlog, bx?.oldestAt, by?.backlog, by?.oldestAt], [2, 1003, 4, 1001]);
      assert.equal(await r.prune(['x', 'y'], 0), 0, 'y has delivered nothing');
      await r.fetch({ sink: 'z', owner: 'c', leaseMs: 1000, now: 3000, limit: 1 });
      assert.equal(await r.prune(['x'], 2500), 0, 'a sink another replica used recently holds pruning back');
      assert.equal(await r.prune(['x'], 3500), 2, 'a sink unused since activeSince does not');
      assert.equal(await r.size(), 2);
      await r.ack('x', 1, 50);
      assert.equal((await r.backlog(['x']))[0]?.backlog, 2, 'ack never moves a cursor back');
    });
  });
}
