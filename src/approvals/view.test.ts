import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Principal } from '../core/principal.ts';
import { Keyring } from '../crypto/keyring.ts';
import type { ApprovalRow } from './repo.ts';
import { approvalAad } from './service.ts';
import { approvalView, maskedRequest } from './view.ts';

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

test('an approver sees the held prompt masked; once retention removed it, the view says so instead', () => {
  const keyring = new Keyring(randomBytes(32));
  const approver: Principal = { subject: 'user:bob', kind: 'user', displayName: 'bob', groups: ['sec'], roles: [], authMethod: 'api_key', credentialId: 'k' };
  const body = { messages: [{ role: 'user', content: 'mail bob@example.com' }] };
  const row = {
    id: 'apr_1', state: 'denied', approverGroups: ['sec'], requester: 'user:alice', requesterGroups: [], findings: [{ type: 'EMAIL_ADDRESS', path: 'messages[0].content', start: 5, end: 20, action: 'hold' }],
    sealedRequest: keyring.seal('approvals', Buffer.from(JSON.stringify(body)), approvalAad('apr_1')), windowMs: null, eachGroup: false, quorum: 1,
    createdAt: 1, expiresAt: 2, decidedAt: 2,
  } as unknown as ApprovalRow;
  assert.deepEqual(approvalView(row, approver, { keyring }).request, { messages: [{ role: 'user', content: 'mail [EMAIL_ADDRESS]' }] });
  const purged = approvalView({ ...row, sealedRequest: null }, approver, { keyring });
  assert.equal(purged.request, undefined);
  assert.match(String(purged.request_withheld), /removed by audit retention/);
});
