import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Principal } from '../core/principal.ts';
import { startSuspensions } from './suspensions.ts';
import type { AlertRepo, Suspension } from './types.ts';

const mallory = { subject: 'user:mallory' } as Principal;
const suspended = (p: Principal, s: ReturnType<typeof startSuspensions>): boolean => {
  try {
    s.admit(p);
    return false;
  } catch {
    return true;
  }
};

test('a refresh asked for after a lift sees the lift, even while an older read is still under way', async () => {
  // The store's rows as committed, and each read answering only when the test says so.
  let rows: Suspension[] = [{ identity: 'user:mallory', investigationId: 'inv_1', since: 1, mode: 'suspend', approvers: [] }];
  const reads: { release(): void }[] = [];
  const repo = {
    suspensions: () => {
      const snapshot = rows;
      return new Promise<Suspension[]>((ok) => reads.push({ release: () => ok(snapshot) }));
    },
  } as unknown as AlertRepo;
  const s = startSuspensions({ repo, refreshMs: 60_000, onError: () => undefined });
  try {
    const first = s.refresh();
    reads[0]!.release();
    await first;
    assert.equal(suspended(mallory, s), true);

    const periodic = s.refresh(); // the timer's read starts before the lift commits…
    rows = []; // …the lift commits…
    const afterLift = s.refresh(); // …and the lifting replica asks for the list again.
    reads[1]!.release();
    await periodic;
    await new Promise((ok) => setImmediate(ok));
    assert.equal(reads.length, 3, 'a second read was started after the one the lift did not see');
    reads[2]!.release();
    await afterLift;
    assert.equal(suspended(mallory, s), false, 'the lifted identity is admitted');
  } finally {
    s.stop();
  }
});
