import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { approvalRequirementOf, approvalRuleSchema, compileApprovalRule, type ApprovalRuleSpec } from './rule.ts';

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
const validate = ajv.compile(approvalRuleSchema);

test('schema fills defaults and the compiled requirement survives the decision boundary', () => {
  const spec: Record<string, unknown> = { approver_groups: ['sec'] };
  assert.equal(validate(spec), true);
  assert.deepEqual(spec, {
    approver_groups: ['sec'], mode: 'hold', quorum: 1, scope: 'request', pending_expiry_seconds: 900,
    justification_required: false, break_glass_groups: [],
  });
  const req = compileApprovalRule('r1', spec as unknown as ApprovalRuleSpec);
  assert.deepEqual(approvalRequirementOf({ approval: JSON.parse(JSON.stringify(req)) }), { ...req, windowMs: undefined });
});

test('each_group quorum needs one approver per group', () => {
  const spec: Record<string, unknown> = { approver_groups: ['a', 'b'], quorum: 'each_group', mode: 'deferred' };
  assert.equal(validate(spec), true);
  const req = compileApprovalRule('r2', spec as unknown as ApprovalRuleSpec);
  assert.equal(req.quorum, 2);
  assert.equal(req.eachGroup, true);
});

test('schema rejects bad rules', () => {
  for (const bad of [
    {},
    { approver_groups: [] },
    { approver_groups: ['a'], quorum: 0 },
    { approver_groups: ['a'], scope: 'window' },
    { approver_groups: ['a'], mode: 'later' },
    { approver_groups: ['a'], unknown_key: 1 },
  ]) assert.equal(validate(structuredClone(bad)), false, JSON.stringify(bad));
});

test('a malformed requirement on a decision reads as missing (fail closed)', () => {
  const good = compileApprovalRule('r', { mode: 'hold', approver_groups: ['a'], quorum: 1, scope: 'window', window_seconds: 600,
    pending_expiry_seconds: 60, justification_required: false, break_glass_groups: [] });
  assert.equal(approvalRequirementOf({ approval: good })?.windowMs, 600_000);
  assert.equal(approvalRequirementOf({}), undefined);
  assert.equal(approvalRequirementOf({ approval: { ...good, approverGroups: [] } }), undefined);
  assert.equal(approvalRequirementOf({ approval: { ...good, quorum: 0 } }), undefined);
  assert.equal(approvalRequirementOf({ approval: { ...good, windowMs: undefined } }), undefined);
  assert.equal(approvalRequirementOf({ approval: { ...good, mode: 'auto' } }), undefined);
});
