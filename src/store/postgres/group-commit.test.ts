import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupCommit, type Outcome } from './group-commit.ts';

const tick = (): Promise<void> => new Promise((ok) => setImmediate(ok));
const ok = <O>(value: O): Outcome<O> => ({ ok: true, value });
const unavailable = (err: unknown): boolean => err instanceof Error && err.message.startsWith('unavailable');

describe('groupCommit', () => {
  it('calls made while a batch is in flight go out together in the next, in call order', async () => {
    const batches: number[][] = [];
    const submit = groupCommit<number, string>(async (inputs) => {
      batches.push(inputs);
      await tick();
      return inputs.map((i) => ok(`r${i}`));
    }, { maxBatch: 100, isUnavailable: unavailable });
    const first = submit(1);
    const second = submit(2); // same synchronous run: joins the first batch
    await Promise.resolve();
    await Promise.resolve();
    const rest = [3, 4, 5].map((i) => submit(i)); // made while the first batch is in flight
    assert.deepEqual(await Promise.all([first, second, ...rest]), ['r1', 'r2', 'r3', 'r4', 'r5']);
    assert.deepEqual(batches, [[1, 2], [3, 4, 5]]);
    assert.equal(await submit(6), 'r6', 'an idle queue starts a new batch');
  });

  it('never more than maxBatch calls in one batch; order kept across batches', async () => {
    const batches: number[][] = [];
    const submit = groupCommit<number, number>(async (inputs) => {
      batches.push(inputs);
      await tick();
      return inputs.map(ok);
    }, { maxBatch: 3, isUnavailable: unavailable });
    const got = await Promise.all(Array.from({ length: 8 }, (_, i) => submit(i)));
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(batches, [[0, 1, 2], [3, 4, 5], [6, 7]]);
  });

  it('a call whose outcome is an error fails alone; the others of its batch resolve', async () => {
    const submit = groupCommit<number, number>(async (inputs) => {
      await tick();
      return inputs.map((i): Outcome<number> => (i === 13 ? { ok: false, error: new Error('not in progress') } : ok(i * 10)));
    }, { maxBatch: 100, isUnavailable: unavailable });
    const settled = await Promise.allSettled([submit(1), submit(13), submit(3)]);
    assert.deepEqual(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)), [10, 'not in progress', 30]);
  });

  it('a batch that fails because the database is unavailable rejects every call in it, none reported durable, and the queue goes on', async () => {
    const runs: number[][] = [];
    let down = true;
    const submit = groupCommit<number, number>(async (inputs) => {
      runs.push(inputs);
      await tick();
      if (down) throw new Error('unavailable: connection terminated');
      return inputs.map(ok);
    }, { maxBatch: 100, isUnavailable: unavailable });
    const settled = await Promise.allSettled([1, 2, 3, 4].map((i) => submit(i)));
    assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected', 'rejected', 'rejected']);
    for (const s of settled) assert.match(((s as PromiseRejectedResult).reason as Error).message, /unavailable/);
    assert.deepEqual(runs, [[1, 2, 3, 4]], 'not retried one by one: that would only fail again');
    down = false;
    assert.equal(await submit(5), 5, 'the next batch runs once the database is back');
  });

  it('a batch that fails for one bad call is retried one call per transaction, in order: only the bad call fails', async () => {
    const runs: number[][] = [];
    const submit = groupCommit<number, number>(async (inputs) => {
      runs.push(inputs);
      await tick();
      if (inputs.includes(13)) throw new Error('invalid byte sequence in input 13');
      return inputs.map((i) => ok(i * 10));
    }, { maxBatch: 100, isUnavailable: unavailable });
    const settled = await Promise.allSettled([submit(1), submit(2), submit(13), submit(4)]);
    assert.deepEqual(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)), [10, 20, 'invalid byte sequence in input 13', 40]);
    assert.deepEqual(runs, [[1, 2, 13, 4], [1], [2], [13], [4]]);
  });

  it('many concurrent callers: every call settles exactly once with its own result', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const submit = groupCommit<number, number>(async (inputs) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await tick();
      inFlight--;
      return inputs.map((i) => ok(i + 1000));
    }, { maxBatch: 64, isUnavailable: unavailable });
    const callers = await Promise.all(Array.from({ length: 50 }, async (_, c) => {
      const out: number[] = [];
      for (let k = 0; k < 20; k++) out.push(await submit(c * 100 + k));
      return out;
    }));
    callers.forEach((out, c) => assert.deepEqual(out, Array.from({ length: 20 }, (_, k) => c * 100 + k + 1000)));
    assert.equal(maxInFlight, 1, 'one batch in flight at a time');
  });
});
