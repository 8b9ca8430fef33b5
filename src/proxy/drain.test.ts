import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Drain } from './drain.ts';

test('Drain.settle cuts the exchanges still registered when the grace runs out, not the ones that left', async () => {
  const d = new Drain();
  const cut: string[] = [];
  const leave = ['a', 'b', 'c'].map((name) => ({ name, exit: d.enter(), forget: d.onCut(() => cut.push(name)) }));
  leave[1]!.forget(); // b finished: its record is written, nothing to cut
  leave[1]!.exit();
  const settled = d.settle(1, 1000);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(cut, ['a', 'c']);
  for (const l of [leave[0]!, leave[2]!]) {
    l.forget();
    l.exit();
  }
  assert.equal(await settled, 2);
});

test('Drain.onCut after the cut cuts at once (an exchange that started during the grace\'s last moment)', async () => {
  const d = new Drain();
  const exit = d.enter();
  const settled = d.settle(1, 1000);
  await new Promise((r) => setTimeout(r, 20));
  let cut = false;
  d.onCut(() => (cut = true));
  assert.equal(cut, true);
  exit();
  assert.equal(await settled, 1);
});
