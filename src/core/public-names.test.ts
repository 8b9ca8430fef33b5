import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publicName, withPublicNames } from './public-names.ts';

describe('public names (snake_case on the way out)', () => {
  it('renames identifier-like camelCase keys at every depth, arrays included', () => {
    const row = {
      principal: { authMethod: 'api_key', displayName: 'Alice', credentialId: 'k1', groups: ['eng'] },
      decision: { decisionId: 'd', matchedRuleIds: ['r'], reasons: [{ code: 'allowed_by_rule', ruleId: 'r' }], approval: { approverGroups: ['sec'], windowMs: 5 } },
      timings: { upstreamFirstByteMs: 1, totalMs: 2 },
    };
    assert.deepEqual(withPublicNames(row), {
      principal: { auth_method: 'api_key', display_name: 'Alice', credential_id: 'k1', groups: ['eng'] },
      decision: { decision_id: 'd', matched_rule_ids: ['r'], reasons: [{ code: 'allowed_by_rule', rule_id: 'r' }], approval: { approver_groups: ['sec'], window_ms: 5 } },
      timings: { upstream_first_byte_ms: 1, total_ms: 2 },
    });
    assert.equal(row.principal.authMethod, 'api_key', 'the record itself is not changed');
  });

  it('leaves keys that are data, and values, as they are', () => {
    for (const k of ['EMAIL_ADDRESS', 'x-portcullis-id', 'already_snake', 'total', 'Model', 'a.b', '']) assert.equal(publicName(k), k);
    assert.deepEqual(withPublicNames({ counts: { EMAIL_ADDRESS: 2 }, detail: 'someValue' }), { counts: { EMAIL_ADDRESS: 2 }, detail: 'someValue' });
    const buf = Buffer.from('x');
    assert.equal(withPublicNames({ b: buf }).b, buf, 'non-plain objects are not walked');
    assert.equal(withPublicNames(null), null);
  });
});
