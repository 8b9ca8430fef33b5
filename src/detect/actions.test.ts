import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { applyActions, contentBlockedError, plan, type PlannedFinding } from './actions.ts';
import { ConversationTokenizer } from './tokenize/tokenizer.ts';
import { resolver, standInScanner } from './stream/testing.ts';

const text = 'mail jane@example.com card 4242424242424242 end';
const found = standInScanner().scan(text);

function apply(p: PlannedFinding[], direction: 'request' | 'response' = 'request', tok?: ConversationTokenizer) {
  return applyActions(text, p, { direction, tokenizer: tok });
}

test('mask styles: label, partial, keyed hash', () => {
  assert.equal(apply(plan(found, 'request', resolver('mask'))).text, 'mail [EMAIL_ADDRESS] card [CREDIT_CARD] end');
  const partial = apply(plan(found, 'request', resolver('mask', {}, { kind: 'partial', keepLast: 4 }))).text;
  assert.equal(partial, 'mail ****.com card ****4242 end');
  const h1 = apply(plan(found, 'request', resolver('mask', {}, { kind: 'hash', key: 'k1' }))).text;
  const h2 = apply(plan(found, 'request', resolver('mask', {}, { kind: 'hash', key: 'k2' }))).text;
  assert.match(h1, /^mail \[EMAIL_ADDRESS:[0-9a-f]{8}\] card \[CREDIT_CARD:[0-9a-f]{8}\] end$/);
  assert.notEqual(h1, h2);
  assert.equal(h1, apply(plan(found, 'request', resolver('mask', {}, { kind: 'hash', key: 'k1' }))).text);
});

test('redact, flag, and the record of what changed (offsets in and out)', () => {
  const r = apply(plan(found, 'request', resolver('redact', { CREDIT_CARD: 'flag' })));
  assert.equal(r.text, 'mail  card 4242424242424242 end');
  assert.deepEqual(
    r.applied.map((a) => [a.type, a.start, a.end, a.action, a.rule, a.outStart, a.outEnd]),
    [
      ['EMAIL_ADDRESS', 5, 21, 'redact', 'r-email_address', 5, 5],
      ['CREDIT_CARD', 27, 43, 'flag', 'r-credit_card', 11, 27],
    ],
  );
});

test('inputs are never mutated', () => {
  const p = plan(found, 'request', resolver('mask'));
  const copy = structuredClone(p);
  apply(p);
  assert.deepEqual(p, copy);
});

test('tokenize uses the conversation tokenizer on requests, masks on responses', () => {
  const tok = new ConversationTokenizer();
  const r = apply(plan(found, 'request', resolver('tokenize')), 'request', tok);
  assert.equal(r.text, 'mail \u27e6EMAIL_ADDRESS_1\u27e7 card \u27e6CREDIT_CARD_1\u27e7 end');
  assert.equal(tok.detokenize(r.text), text);
  assert.equal(apply(plan(found, 'response', resolver('tokenize')), 'response', tok).text, 'mail [EMAIL_ADDRESS] card [CREDIT_CARD] end');
});

test('block: value masked, error names types and rules but never the value', () => {
  const r = apply(plan(found, 'request', resolver('block', { CREDIT_CARD: 'mask' })));
  assert.equal(r.blocked.length, 1);
  assert.ok(!r.text.includes('jane@example.com'));
  const err = contentBlockedError(r.blocked, 'request');
  assert.equal(err.code, 'content_blocked');
  assert.equal(err.status, 403);
  assert.match(err.message, /r-email_address.*EMAIL_ADDRESS/);
  assert.ok(!JSON.stringify({ m: err.message, d: err.details }).includes('jane'));
});

test('a resolver returning undefined drops the finding', () => {
  assert.equal(plan(found, 'request', () => undefined).length, 0);
});
