import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALERTS_DEFAULTS } from './config-schema.ts';
import { startAlertEvaluator } from './evaluator.ts';
import type { AlertRepo, Firing } from './types.ts';

const firing: Firing = {
  id: 'inv_1', ruleId: 'r', kind: 'refusals', severity: 'high', subject: 'user:a', identity: 'user:a', windowKey: '1', openedAt: 0,
  summary: '3 refusals', exchangeIds: ['ex_1'], response: 'none',
};

test('a firing whose notice failed is notified again from the store, and marked once it was', async () => {
  let now = 1_000_000;
  let opened: Firing[] = [firing];
  const notified = new Set<string>();
  const marked: string[] = [];
  const repo = {
    evaluate: async () => {
      const r = { evaluated: opened.length, opened };
      opened = [];
      return r;
    },
    unnotified: async (before: number) => (firing.openedAt < before && !notified.has(firing.id) ? [firing] : []),
    markNotified: async (id: string) => {
      notified.add(id);
      marked.push(id);
    },
    prune: async () => 0,
  } as unknown as AlertRepo;
  const errors: string[] = [];
  let fail = true;
  const calls: string[] = [];
  const ev = startAlertEvaluator({
    repo, config: { ...ALERTS_DEFAULTS, enabled: false }, costOf: () => () => 0, now: () => now,
    async notify(f) {
      calls.push(f.id);
      if (fail) throw new Error('trail unavailable');
    },
    onError: (_err, during) => errors.push(during),
  });
  await ev.catchUp();
  assert.deepEqual([calls, marked, errors], [['inv_1', 'inv_1'], [], ['notify', 'notify']], 'tried at once and by the sweep; never marked');
  fail = false;
  now += 120_000;
  await ev.catchUp();
  assert.deepEqual(marked, ['inv_1'], 'notified by the next sweep, then marked');
  now += 120_000;
  await ev.catchUp();
  assert.equal(calls.length, 3, 'a notified firing is not notified again');
  await ev.stop();
});
