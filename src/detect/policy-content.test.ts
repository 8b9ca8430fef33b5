import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { applyActions, plan } from './actions.ts';
import { compileContentPolicy, ContentSectionError, validateContentSection } from './policy-content.ts';
import { fakeCredential } from '../../test/helpers/fake-credentials.ts';

const YAML = `
detectors:
  disable: [IP_ADDRESS]
  phone_regions: [GB, US]
custom:
  - id: employee
    type: EMPLOYEE_ID
    pattern: 'EMP-\\d{6}'
    max_length: 10
  - id: codenames
    type: CODENAME
    words: [Blue Falcon]
rules:
  - id: no-secrets-out
    types: ['SECRET_*']
    action: block
  - id: cards
    types: [CREDIT_CARD]
    action: mask
    mask: partial
    keep_last: 4
  - id: pii-request
    types: [EMAIL_ADDRESS, EMPLOYEE_ID]
    direction: request
    action: tokenize
  - id: pii-answer
    types: [EMAIL_ADDRESS]
    direction: response
    action: redact
  - id: confident-codenames
    types: [CODENAME]
    action: mask
    min_score: 0.9
  - id: codenames-flag
    types: [CODENAME]
    action: flag
unterminated: block
`;

describe('content section', () => {
  const policy = compileContentPolicy(parse(YAML));
  const act = (text: string, direction: 'request' | 'response') =>
    applyActions(text, plan(policy.scanners[direction]!.scan(text), direction, policy.actionFor), { direction, tokenizer: { tokenize: (t) => `<${t}>` } });

  it('compiles rules in order, per direction, with globs, mask styles and minimum scores', () => {
    assert.equal(policy.tokenizes, true);
    assert.equal(policy.unterminated, 'block');
    const text = 'jane@example.com paid 4111 1111 1111 1111 as EMP-123456 for Blue Falcon from 10.0.0.1';
    const req = act(text, 'request');
    assert.equal(req.text, '<EMAIL_ADDRESS> paid ****1111 as <EMPLOYEE_ID> for Blue Falcon from 10.0.0.1');
    assert.deepEqual(req.applied.map((a) => [a.type, a.rule, a.action]), [
      ['EMAIL_ADDRESS', 'pii-request', 'tokenize'], ['CREDIT_CARD', 'cards', 'mask'], ['EMPLOYEE_ID', 'pii-request', 'tokenize'], ['CODENAME', 'codenames-flag', 'flag'],
    ]);
    const res = act(text, 'response');
    assert.equal(res.text, ' paid ****1111 as EMP-123456 for Blue Falcon from 10.0.0.1', 'no response rule for EMPLOYEE_ID: left alone');
    const blocked = act(`key ${fakeCredential.github()}`, 'response');
    assert.deepEqual(blocked.blocked.map((b) => [b.type, b.rule]), [['SECRET_GITHUB_TOKEN', 'no-secrets-out']]);
  });

  it('a direction without rules gets no scanner (no hold-back in streams)', () => {
    const p = compileContentPolicy({ rules: [{ id: 'r', types: ['EMAIL_ADDRESS'], direction: 'request', action: 'mask' }] });
    assert.ok(p.scanners.request);
    assert.equal(p.scanners.response, undefined);
    assert.equal(p.tokenizes, false);
  });

  it('reports every problem by key path', () => {
    const issues = validateContentSection({
      rules: [
        { id: 'a', types: ['EMAIL_ADRESS'], action: 'mask' },
        { id: 'a', types: '*', action: 'mask', mask: 'hash' },
        { id: 'c', types: ['EMAIL_ADDRESS'], action: 'block', mask: 'partial' },
      ],
    });
    assert.deepEqual(issues.map((i) => i.path).sort(), ['rules[0].types[0]', 'rules[1].id', 'rules[1].mask', 'rules[2].mask']);
    const shape = validateContentSection({ rules: [{ id: 'x', types: ['email'], action: 'explode' }], extra: 1 });
    assert.ok(shape.some((i) => i.path === '(content)' && /additional/.test(i.message)));
    assert.ok(shape.some((i) => i.path === 'rules[0].action'));
    assert.ok(validateContentSection({ custom: [{ id: 'r', type: 'R', pattern: '(a)\\1' }] }).some((i) => /invalid pattern/.test(i.message)));
    assert.throws(() => compileContentPolicy({ detectors: { builtins: ['NOT_A_TYPE'] } }), ContentSectionError);
  });

  it('mask: hash uses the gateway key, never a key in the policy', () => {
    const p = compileContentPolicy({ rules: [{ id: 'h', types: ['EMAIL_ADDRESS'], action: 'mask', mask: 'hash', hash_length: 12 }] }, { hashKey: 'k'.repeat(32) });
    const text = 'to jane@example.com';
    const r = applyActions(text, plan(p.scanners.request!.scan(text), 'request', p.actionFor), { direction: 'request' });
    assert.match(r.text, /^to \[EMAIL_ADDRESS:[0-9a-f]{12}\]$/);
  });
});

describe('ContentSectionError', () => {
  it('is a TypeError listing the issues', () => {
    try {
      compileContentPolicy({ unterminated: 'explode' });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ContentSectionError && err instanceof TypeError);
      assert.equal(err.issues[0]!.path, 'unterminated');
    }
  });
});
