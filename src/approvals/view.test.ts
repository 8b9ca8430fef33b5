import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskedRequest } from './view.ts';

test('findings are masked by path and offsets, several per string, nested content parts too', () => {
  const body = { messages: [{ role: 'user', content: 'a@b.co and c@d.io' }, { role: 'user', content: [{ type: 'text', text: 'card 4111111111111111' }] }] };
  const m = maskedRequest(body, [
    { type: 'EMAIL_ADDRESS', path: 'messages[0].content', start: 0, end: 6 },
    { type: 'EMAIL_ADDRESS', path: 'messages[0].content', start: 11, end: 17 },
    { type: 'CREDIT_CARD', path: 'messages[1].content[0].text', start: 5, end: 21 },
  ]);
  assert.equal(m.withheld, false);
  assert.deepEqual(m.request, { messages: [{ role: 'user', content: '[EMAIL_ADDRESS] and [EMAIL_ADDRESS]' }, { role: 'user', content: [{ type: 'text', text: 'card [CREDIT_CARD]' }] }] });
  assert.equal(body.messages[0]?.content, 'a@b.co and c@d.io', 'the original is not touched');
});

test('a finding that cannot be located withholds the whole prompt (never shown unmasked by mistake)', () => {
  const body = { messages: [{ role: 'user', content: 'secret sk-123' }] };
  for (const f of [{ type: 'X', path: 'messages[3].content', start: 0, end: 1 }, { type: 'X', path: 'messages[0].content', start: 5, end: 99 }, { type: 'X', start: 0, end: 1 }]) {
    assert.deepEqual(maskedRequest(body, [f]), { request: null, withheld: true });
  }
});
