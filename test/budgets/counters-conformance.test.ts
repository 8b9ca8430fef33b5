import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MemoryBudgetCounters, type BudgetCounterRepo, type CounterIncrement } from '../../src/policy/budgets/counters.ts';
import { budgetCountersFor } from '../../src/store/budget-counters.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/ports.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

/** One behavioural suite for every counter implementation (STYLE.md #7). */
function conformance(name: string, open: () => Promise<{ repo: BudgetCounterRepo; close(): Promise<void> }>): void {
  describe(`budget counters: ${name}`, () => {
    let repo: BudgetCounterRepo;
    let handle: { close(): Promise<void> } | undefined;
    before(async () => {
      const h = await open();
      repo = h.repo;
      handle = h;
    });
    after(async () => handle?.close());

    const inc = (o: Partial<CounterIncrement> & { scope: string }): CounterIncrement =>
      ({ limitId: 'rpm', metric: 'requests_per_minute', windowStart: 60_000, by: 1, expiresAt: 120_000, ...o });

    it('adds atomically and returns new values in order; absent counters read 0', async () => {
      assert.deepEqual(await repo.add([inc({ scope: 'user:a' }), inc({ scope: 'user:b', by: 5 })]), [1, 5]);
      assert.deepEqual(await repo.add([inc({ scope: 'user:b', by: -2 }), inc({ scope: 'user:a', by: 3 })]), [3, 4]);
      assert.deepEqual(await repo.get([
        { limitId: 'rpm', metric: 'requests_per_minute', scope: 'user:a', windowStart: 60_000 },
        { limitId: 'rpm', metric: 'requests_per_minute', scope: 'user:a', windowStart: 0 },
        { limitId: 'rpm', metric: 'tokens_per_minute', scope: 'user:b', windowStart: 60_000 },
        { limitId: 'rpm', metric: 'requests_per_minute', scope: 'user:b', windowStart: 60_000 },
      ]), [4, 0, 0, 3]);
      assert.deepEqual(await repo.add([]), []);
    });

    it('concurrent increments are never lost', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, () => repo.add([inc({ scope: 'user:c' })])));
      assert.deepEqual(results.map((r) => r[0]).sort((x, y) => x! - y!), Array.from({ length: 50 }, (_, i) => i + 1));
    });

    it('lists unexpired counters with filters and purges expired ones', async () => {
      await repo.add([inc({ scope: 'group:eng|model:gpt-4o', limitId: 'spend', metric: 'spend_per_month', by: 4_500, expiresAt: 5_000_000 })]);
      const byScope = await repo.list(100_000, { scope: 'group:eng' });
      assert.deepEqual(byScope.map((r) => [r.limitId, r.metric, r.scope, r.windowStart, r.value, r.expiresAt]),
        [['spend', 'spend_per_month', 'group:eng|model:gpt-4o', 60_000, 4_500, 5_000_000]]);
      assert.equal((await repo.list(100_000, { limitId: 'rpm' })).length, 3);
      assert.equal((await repo.list(130_000)).length, 1);
      assert.equal(await repo.purgeExpired(130_000), 3);
      assert.deepEqual(await repo.get([{ limitId: 'rpm', metric: 'requests_per_minute', scope: 'user:a', windowStart: 60_000 }]), [0]);
    });

    it('concurrent calls touching several counters each see the values of some serial order', async () => {
      // PostgreSQL merges calls made while one statement is in flight (src/store/postgres/budgets.ts): each caller
      // must still see its own point in the order, never the batch's total.
      const results = await Promise.all(Array.from({ length: 30 }, () => repo.add([inc({ scope: 'user:d' }), inc({ scope: 'group:d', by: 2 })])));
      assert.deepEqual(results.map((r) => r[0]!).sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1));
      for (const r of results) assert.equal(r[1], 2 * r[0]!, 'group:d (by 2 per call) is in step with user:d in every caller\'s view');
    });

    it('concurrent reads of different counters each get their own values, in key order', async () => {
      // PostgreSQL merges reads made while one is in flight into one statement: each caller gets its own slice.
      await Promise.all(Array.from({ length: 8 }, (_, i) => repo.add([inc({ scope: `user:r${i}`, by: i + 1 })])));
      const key = (i: number) => ({ limitId: 'rpm', metric: 'requests_per_minute' as const, scope: `user:r${i}`, windowStart: 60_000 });
      const reads = await Promise.all(Array.from({ length: 8 }, (_, i) => repo.get([key(i), key(100 + i), key((i + 1) % 8)])));
      reads.forEach((r, i) => assert.deepEqual(r, [i + 1, 0, ((i + 1) % 8) + 1], `reader ${i}`));
    });
  });
}

conformance('memory', async () => ({ repo: new MemoryBudgetCounters(() => 0), close: async () => undefined }));

conformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-budgets-'));
  const store = await openStore(`sqlite:${join(dir, 'b.db')}`, { baseDir: dir });
  return { repo: budgetCountersFor(store, 'store'), close: () => store.close() };
});

conformance('postgres', async () => {
  const pg: TestPostgres = await startTestPostgres();
  let store: Store | undefined;
  try {
    store = await openStore(pg.url, { baseDir: tmpdir() });
  } catch (err) {
    await pg.stop();
    throw err;
  }
  const s = store;
  return { repo: budgetCountersFor(s), close: async () => { await s.close(); await pg.stop(); } };
});
