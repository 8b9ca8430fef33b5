import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileContentPolicy } from '../detect/policy-content.ts';
import type { McpVersion } from '../governance/mcp-version.ts';
import { loadPolicy } from '../policy/load.ts';
import { decideCall, type DecideInput } from './decide.ts';
import { fakeCredential } from '../../test/helpers/fake-credentials.ts';

const SOURCE = `version: 1
rules: []
content:
  rules:
    - { id: pii, types: [EMAIL_ADDRESS], action: mask }
    - { id: keys, types: ["SECRET_*"], action: block }
mcp:
  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [gh] }
    - { id: no-delete, effect: deny, servers: [gh], tools: ["delete_*"] }
    - { id: prod, effect: require_approval, servers: [gh], tools: [deploy], approval: { approver_groups: [sre] } }
`;

function version(mode: 'enforce' | 'observe'): McpVersion {
  const p = loadPolicy(SOURCE, { file: 't', version: 'v1' });
  return { engine: p.mcp, content: compileContentPolicy(p.document.content), mode, version: 'v1', approvals: new Map() };
}

const principal = { subject: 'user:alice', kind: 'user' as const, displayName: 'alice', groups: ['eng'], roles: ['user'], authMethod: 'api_key' as const, credentialId: 'k1' };
const input = (name: string, args: Record<string, unknown>): DecideInput => ({
  id: 'ex_01', principal, server: 'gh', toolHash: 'h', clientIp: undefined, userAgent: undefined, now: 0,
  message: { kind: 'request', id: 1, method: 'tools/call', params: { name, arguments: args }, raw: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } } },
});

describe('decideCall', () => {
  it('enforce: a denied tool is refused, an approval rule leaves the call to be held, masking rewrites a copy', () => {
    const v = version('enforce');
    assert.equal(decideCall(v, input('delete_repo', {})).refusal?.code, 'denied_by_policy');
    const held = decideCall(v, input('deploy', {}));
    assert.deepEqual([held.refusal, held.decision.effect, held.decision.enforced], [undefined, 'require_approval', true]);
    const args = { to: 'bob@example.com' };
    const masked = decideCall(v, input('send', args));
    assert.equal(masked.refusal, undefined);
    assert.deepEqual((masked.rewritten!.params as { arguments: unknown }).arguments, { to: '[EMAIL_ADDRESS]' });
    assert.deepEqual(args, { to: 'bob@example.com' }, 'the client\'s message is not mutated');
  });

  it('observe: a deny is recorded as not enforced and let through, but a content block is still enforced', () => {
    const v = version('observe');
    const d = decideCall(v, input('delete_repo', {}));
    assert.equal(d.refusal, undefined);
    assert.deepEqual([d.decision.effect, d.decision.enforced, d.decision.reasons.map((r) => r.code)], ['deny', false, ['denied_by_rule', 'observe_mode']]);
    const blocked = decideCall(v, input('send', { token: fakeCredential.aws() }));
    assert.equal(blocked.refusal?.code, 'content_blocked');
  });

  it('without a policy every call is allowed and says so', () => {
    const d = decideCall('open', input('delete_repo', {}));
    assert.deepEqual([d.refusal, d.decision.reasons[0]!.code], [undefined, 'no_policy_configured']);
  });
});
