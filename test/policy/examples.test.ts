import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { compileBudgets } from '../../src/policy/budgets/index.ts';
import { compileContentPolicy } from '../../src/detect/policy-content.ts';
import { LOCAL_POLICY_CHECKS } from '../../src/governance/policy-checks.ts';
import { NO_FEATURES, type PolicyInput } from '../../src/policy/input.ts';
import { loadPolicy, type LoadedPolicy } from '../../src/policy/load.ts';

/** The five worked examples of docs/policies.md (examples/policies/*.yaml) validate and decide as the docs say. */
async function example(name: string): Promise<LoadedPolicy> {
  const file = new URL(`../../examples/policies/${name}.yaml`, import.meta.url);
  return loadPolicy(await readFile(file, 'utf8'), { file: name, version: name, ...LOCAL_POLICY_CHECKS });
}

function input(o: { groups?: string[]; kind?: 'user' | 'service' | 'workload'; claims?: Record<string, string>; provider?: string; model: string; stream?: boolean; template?: boolean; findings?: string[] }): PolicyInput {
  return {
    principal: { subject: `${o.kind ?? 'user'}:x`, kind: o.kind ?? 'user', groups: o.groups ?? [], claims: o.claims },
    resource: { provider: o.provider ?? 'openai', model: o.model, endpoint: 'openai.chat' },
    request: { ...NO_FEATURES, stream: o.stream ?? false, template: o.template ?? false },
    context: { now: Date.UTC(2026, 10, 25, 12), clientIp: '10.0.0.1', userAgent: 'test' },
    findings: (o.findings ?? []).map((type) => ({ type })),
  };
}

describe('docs/policies.md worked examples', () => {
  it('1: engineering may use any OpenAI model, nothing else', async () => {
    const { engine } = await example('1-engineering-openai');
    assert.equal(engine.evaluate(input({ groups: ['eng'], model: 'o3-mini' })).effect, 'allow');
    assert.equal(engine.evaluate(input({ groups: ['eng'], provider: 'anthropic', model: 'claude-sonnet-4' })).effect, 'deny');
    assert.equal(engine.evaluate(input({ groups: ['sales'], model: 'gpt-4o' })).effect, 'deny');
  });

  it('2: finance is allowed and its PII is masked both ways; secrets block', async () => {
    const { engine, document } = await example('2-finance-pii-masked');
    assert.equal(engine.evaluate(input({ groups: ['finance'], model: 'gpt-4o' })).effect, 'allow');
    const content = compileContentPolicy(document.content);
    assert.equal(content.actionFor({ type: 'EMAIL_ADDRESS' } as never, 'request')?.action, 'mask');
    assert.equal(content.actionFor({ type: 'EMAIL_ADDRESS' } as never, 'response')?.action, 'mask');
    assert.equal(content.actionFor({ type: 'SECRET_OPENAI_KEY' } as never, 'request')?.action, 'block');
  });

  it('3: restricted findings reroute a hosted model to the self-hosted one', async () => {
    const { engine } = await example('3-restricted-self-hosted');
    const d = engine.evaluate(input({ groups: ['staff'], model: 'gpt-4o', findings: ['CREDIT_CARD'] }));
    assert.equal(d.effect, 'allow');
    assert.deepEqual(d.reroute, { level: 'restricted', from: 'gpt-4o', to: 'local-llama' });
    assert.equal(engine.evaluate(input({ groups: ['staff'], model: 'gpt-4o' })).reroute, undefined);
  });

  it('4: contractors only through templates', async () => {
    const { engine } = await example('4-contractors-templates');
    assert.equal(engine.evaluate(input({ groups: ['contractors'], model: 'gpt-4o-mini', template: true })).effect, 'allow');
    const free = engine.evaluate(input({ groups: ['contractors'], model: 'gpt-4o-mini' }));
    assert.equal(free.effect, 'deny');
    assert.deepEqual(free.reasons[0], { code: 'feature_not_allowed', ruleId: 'contractors-templates-only', detail: 'templates_only' });
  });

  it('5: the nightly pipeline on main, without streaming, within its budget', async () => {
    const { engine, document } = await example('5-nightly-pipeline-budget');
    const ci = { kind: 'workload' as const, claims: { repository: 'acme/reports', ref: 'refs/heads/main' }, model: 'gpt-4o-mini' };
    assert.equal(engine.evaluate(input(ci)).effect, 'allow');
    assert.equal(engine.evaluate(input({ ...ci, stream: true })).effect, 'deny');
    assert.equal(engine.evaluate(input({ ...ci, claims: { repository: 'acme/reports', ref: 'refs/heads/feature' } })).effect, 'deny');
    const budgets = compileBudgets(document.budgets);
    assert.deepEqual(budgets.applicable({ subject: 'workload:x', kind: 'workload', groups: [] }, 'gpt-4o-mini').map((a) => a.limit.id).sort(), ['nightly-rpm', 'nightly-tokens']);
  });
});
