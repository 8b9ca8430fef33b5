import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayError } from '../core/errors.ts';
import { loadPolicy } from '../policy/load.ts';
import type { DecisionRecord, ExchangeContext } from '../proxy/context.ts';
import type { ApprovalGate } from './gate.ts';
import { approvalPolicyHook, approvalRequirements } from './policy-hook.ts';

const POLICY = `
version: 1
rules:
  - id: eng
    effect: allow
    subjects: { groups: [eng] }
  - id: confidential-needs-review
    effect: require_approval
    subjects: { groups: [eng] }
    resources: { models: [gpt-4.1] }
    approval: { approver_groups: [sec, legal], quorum: each_group, mode: deferred }
  - id: broken-approval
    effect: require_approval
    subjects: { groups: [eng] }
    resources: { models: [o1] }
`;

const { engine } = loadPolicy(POLICY, { file: 'p.yaml', version: 'pv_1' });
const decision = (ruleId: string, enforced = true): DecisionRecord & { error?: GatewayError } => {
  const d: DecisionRecord & { error?: GatewayError } = {
    decisionId: 'dec_1', policyVersion: 'pv_1', effect: 'require_approval', enforced, reasons: [{ code: 'approval_required_by_rule', ruleId }], matchedRuleIds: [ruleId],
  };
  Object.defineProperty(d, 'error', { value: new GatewayError('approval_required', 'needs approval'), enumerable: false, writable: true });
  return d;
};
const ctx = {} as ExchangeContext;

test('requirements are compiled once per policy version, with defaults; a rule without options is reported', () => {
  const reqs = approvalRequirements(engine);
  const r = reqs.get('confidential-needs-review');
  assert.ok(r && typeof r === 'object');
  assert.deepEqual([r.mode, r.quorum, r.eachGroup, r.scope, r.pendingExpiryMs], ['deferred', 2, true, 'request', 900_000]);
  assert.match(reqs.get('broken-approval') as string, /no `approval` options/);
  assert.equal(reqs.has('eng'), false);
});

test('an enforced require_approval decision goes through the gate and the refusal is lifted once it returns', async () => {
  const seen: DecisionRecord[] = [];
  const gate: ApprovalGate = { check: async (_c, d) => void seen.push(d) };
  const hook = approvalPolicyHook(gate)(engine)!;
  const d = decision('confidential-needs-review');
  await hook({ ctx, decision: d });
  assert.equal(seen.length, 1);
  assert.equal((d.approval as { ruleId: string }).ruleId, 'confidential-needs-review');
  assert.equal(d.error, undefined);
});

test('a gate refusal propagates; observe mode and allow decisions never reach the gate', async () => {
  const gate: ApprovalGate = { check: () => Promise.reject(new GatewayError('approval_required', 'wait')) };
  const hook = approvalPolicyHook(gate)(engine)!;
  const d = decision('confidential-needs-review');
  await assert.rejects(hook({ ctx, decision: d }), (e: unknown) => e instanceof GatewayError && e.code === 'approval_required');
  assert.ok(d.error, 'still refused');
  await hook({ ctx, decision: decision('confidential-needs-review', false) });
  await hook({ ctx, decision: { ...decision('eng'), effect: 'allow' } });
});

test('fail closed: a require_approval rule with invalid options refuses with evaluation_error', async () => {
  const hook = approvalPolicyHook({ check: () => Promise.resolve() })(engine)!;
  await assert.rejects(hook({ ctx, decision: decision('broken-approval') }), (e: unknown) => e instanceof GatewayError && e.code === 'evaluation_error');
  await assert.rejects(hook({ ctx, decision: decision('not-a-rule') }), (e: unknown) => e instanceof GatewayError && e.code === 'evaluation_error');
});
