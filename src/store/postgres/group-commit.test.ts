import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupCommit } from './group-commit.ts';

describe('groupCommit', () => {
  it('calls made while a batch is in flight go out together, in order, per key', async () => {
    const batches: string[][] = [];
    const append = groupCommit<string, number, string>(async (key, inputs) => {
      batches.push(inputs.map((i) => `${key}${i}`));
      await new Promise((ok) => setImmediate(ok));
      return inputs.map((i) => `${key}${i}`);
    });
    const results = await Promise.all([append('a', 1), append('a', 2), append('b', 1), append('a', 3), append('a', 4)]);
    assert.deepEqual(results, ['a1', 'a2', 'b1', 'a3', 'a4']);
    assert.deepEqual(batches, [['a1'], ['b1'], ['a2', 'a3', 'a4']], 'the first call goes at once; the rest of key a wait for it and share one batch');
    assert.equal(await append('a', 5), 'a5', 'an idle key starts a new batch');
  });

  it('a failing call fails alone: its batch is retried one call per transaction', async () => {
    const runs: number[][] = [];
    const append = groupCommit<string, number, number>(async (_key, inputs) => {
      runs.push(inputs);
      await new Promise((ok) => setImmediate(ok));
      if (inputs.includes(13)) throw new Error('bad input 13');
      return inputs.map((i) => i * 10);
    });
    const settled = await Promise.allSettled([append('w', 1), append('w', 2), append('w', 13), append('w', 4)]);
    assert.deepEqual(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)), [10, 20, 'bad input 13', 40]);
    assert.deepEqual(runs, [[1], [2, 13, 4], [2], [13], [4]]);
  });
});
