import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from '../core/canonical-json.ts';
import { APPROVAL_STATES, canTransition, requestDigest, tally, type Vote } from './state.ts';

test('only the legal transitions exist; terminal states go nowhere', () => {
  const legal = APPROVAL_STATES.flatMap((f) => APPROVAL_STATES.filter((t) => canTransition(f, t)).map((t) => `${f}->${t}`));
  assert.deepEqual(legal, ['pending->approved', 'pending->denied', 'pending->expired', 'pending->cancelled', 'approved->expired', 'approved->executed']);
});

test('the digest ignores key order and whitespace, and changes with content, identity, policy version or rule', () => {
  const base = { endpoint: 'openai.chat', subject: 'user:a', policyVersion: 'v1', ruleId: 'r', body: { model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 0.5 } };
  const d = requestDigest(base);
  assert.match(d, /^[0-9a-f]{64}$/);
  assert.equal(requestDigest({ ...base, body: JSON.parse('{"temperature":0.5,"messages":[{"content":"x","role":"user"}],"model":"m"}') as unknown }), d);
  for (const changed of [
    { ...base, body: { ...base.body, messages: [{ role: 'user', content: 'x ' }] } },
    { ...base, subject: 'user:b' },
    { ...base, policyVersion: 'v2' },
    { ...base, ruleId: 'r2' },
    { ...base, endpoint: 'openai.responses' },
  ]) assert.notEqual(requestDigest(changed), d);
  assert.equal(canonicalJson({ b: [1, { d: 2, c: null }], a: 'é' }), '{"a":"é","b":[1,{"c":null,"d":2}]}');
});

test('tally: deny decides; N distinct approvers; each_group needs a distinct person per group', () => {
  const v = (actor: string, groups: string[], verdict: Vote['verdict'] = 'approve'): Vote => ({ actor, groups, verdict });
  const two = { approverGroups: ['sec'], quorum: 2, eachGroup: false };
  assert.equal(tally(two, [v('a', ['sec'])]), 'pending');
  assert.equal(tally(two, [v('a', ['sec']), v('b', ['sec'])]), 'approved');
  assert.equal(tally(two, [v('a', ['sec']), v('b', ['sec'], 'deny')]), 'denied');
  const each = { approverGroups: ['sec', 'legal', 'risk'], quorum: 3, eachGroup: true };
  assert.equal(tally(each, [v('a', ['sec', 'legal', 'risk'])]), 'pending');
  assert.equal(tally(each, [v('a', ['sec', 'legal']), v('b', ['sec']), v('c', ['legal', 'risk'])]), 'approved', 'needs a re-assignment: a→legal, b→sec, c→risk');
  assert.equal(tally(each, [v('a', ['sec', 'legal']), v('b', ['sec', 'legal'])]), 'pending');
});
