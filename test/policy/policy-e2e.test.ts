import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { finishedExchange } from '../helpers/gateway.ts';
import { admin, startPolicyGateway, type PolicyGateway } from './harness.ts';

/**
 * The policy engine through the real pipeline with the official OpenAI SDK: versions pushed and activated over the
 * admin API, access by group and model, feature bounds, /v1/models filtering, sensitivity reroute, observe mode,
 * rollback, hot activation during a stream, simulation — and the attacks that must fail.
 */
const POLICY = `
version: 1
name: e2e
sensitivity:
  levels: [public, internal, confidential, restricted]
  default: internal
  findings:
    "SECRET_*": restricted
  models:
    restricted: [local-llama]
routing:
  reroute:
    restricted: local-llama
rules:
  - id: eng-models
    effect: allow
    subjects: { groups: [eng] }
    resources: { models: [gpt-4o, local-llama] }
    on_sensitivity_violation: reroute
  - id: contractors-mini
    effect: allow
    subjects: { groups: [contractors] }
    resources: { models: [gpt-4o-mini] }
    features: { tools: false }
content:
  rules:
    - id: flag-secrets
      types: ["SECRET_*"]
      action: flag
`;
const DENY_GPT4O = POLICY.replace('resources: { models: [gpt-4o, local-llama] }', 'resources: { models: [local-llama] }').replace('name: e2e', 'name: e2e-strict');
const CEL_BROKEN = POLICY.replace('    on_sensitivity_violation: reroute', '    on_sensitivity_violation: reroute\n    when: principal.claims.team == "ml"').replace('name: e2e', 'name: e2e-cel');
const TOOLS = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];

describe('policy engine end to end', () => {
  let g: PolicyGateway;
  let alice: OpenAI;
  let bob: OpenAI;
  const v = { v1: '', strict: '' };
  const upstreamModel = () => (g.t.mock.received.at(-1)!.body as { model: string }).model;
  const push = async (source: string, message: string, key = g.keys.admin) => admin(g.adminUrl, key, 'POST', '/admin/v1/policies', { source, message });
  const activate = async (ref: string, mode?: string) => admin(g.adminUrl, g.keys.admin, 'POST', `/admin/v1/policies/${ref}/activate`, mode ? { mode } : {});
  const chat = (client: OpenAI, model: string, content = 'hello', extra: Record<string, unknown> = {}) =>
    client.chat.completions.create({ model, messages: [{ role: 'user', content }], ...extra }).withResponse();
  const refusal = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      return err as { status: number; code: string; message: string; headers: Headers };
    }
    assert.fail('expected the request to be refused');
  };

  before(async () => {
    g = await startPolicyGateway({ mockDelayMs: 60 });
    alice = new OpenAI({ baseURL: g.t.openaiBase, apiKey: g.keys.alice, maxRetries: 0 });
    bob = new OpenAI({ baseURL: g.t.openaiBase, apiKey: g.keys.bob, maxRetries: 0 });
  });
  after(() => g.close());

  it('roles: a user cannot push; a policy author pushes but cannot activate; an admin activates', async () => {
    assert.equal((await push(POLICY, 'by a user', g.keys.alice)).status, 403);
    const pushed = await push(POLICY, 'first policy', g.keys.author);
    assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
    v.v1 = pushed.json.id as string;
    assert.equal(pushed.json.author, 'user:pat');
    assert.equal((await admin(g.adminUrl, g.keys.author, 'POST', `/admin/v1/policies/${v.v1}/activate`, {})).status, 403);
    const act = await activate(v.v1);
    assert.equal(act.status, 200, JSON.stringify(act.json));
    assert.equal((act.json.runtime as { version_id: string }).version_id, v.v1);
  });

  it('a group may use its model; another model is refused with a native 400 naming the policy version', async () => {
    const ok = await chat(alice, 'gpt-4o');
    assert.ok(ok.data.choices[0]!.message.content);
    const row = await finishedExchange(g.t.gw, ok.response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.decision!.policyVersion, v.v1);
    assert.deepEqual(row.decision!.matchedRuleIds, ['eng-models']);
    assert.equal(row.decision!.sensitivity, 'internal');

    const err = await refusal(chat(alice, 'gpt-4o-mini'));
    assert.equal(err.status, 400);
    assert.equal(err.code, 'model_not_allowed');
    assert.match(err.message, new RegExp(`No policy rule allows you to use model "gpt-4o-mini".*${v.v1}`));
    const denied = await finishedExchange(g.t.gw, err.headers.get('x-portcullis-exchange-id')!);
    assert.equal(denied.status, 'rejected');
    assert.equal(denied.decision!.effect, 'deny');
    assert.equal((denied.decision!.reasons as { code: string }[])[0]!.code, 'no_matching_rule');
  });

  it('/v1/models lists only what the caller may use', async () => {
    const ids = async (c: OpenAI) => (await c.models.list()).data.map((m) => m.id).sort();
    assert.deepEqual(await ids(alice), ['gpt-4o', 'local-llama']);
    assert.deepEqual(await ids(bob), ['gpt-4o-mini']);
  });

  it('feature bound: tools are refused for a group whose rule turns them off', async () => {
    assert.ok((await chat(bob, 'gpt-4o-mini')).data.choices.length > 0);
    const err = await refusal(chat(bob, 'gpt-4o-mini', 'hi', { tools: TOOLS }));
    assert.equal(err.status, 400);
    assert.equal(err.code, 'policy_denied');
    assert.match(err.message, /Rule "contractors-mini" does not allow tools/);
  });

  it('sensitivity: a secret in the prompt makes it restricted and reroutes it to the self-hosted model', async () => {
    const secret = 'sk-proj-' + randomBytes(30).toString('base64url');
    const r = await chat(alice, 'gpt-4o', `please debug with ${secret}`);
    assert.equal(upstreamModel(), 'llama-3-local', 'the external model never receives it');
    const row = await finishedExchange(g.t.gw, r.response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.decision!.sensitivity, 'restricted');
    assert.deepEqual(row.decision!.route, { level: 'restricted', from: 'gpt-4o', to: 'local-llama', applied: true });
    assert.ok(!JSON.stringify(row.decision).includes(secret), 'the decision never carries content');
  });

  it('sensitivity labels: a client may raise the level; lowering it or an unknown label does not help', async () => {
    await chat(alice, 'gpt-4o', 'plain text', { metadata: { portcullis_sensitivity: 'restricted' } });
    assert.equal(upstreamModel(), 'llama-3-local');
    assert.equal((g.t.mock.received.at(-1)!.body as { metadata?: unknown }).metadata, undefined, 'our label is not forwarded');

    const secret = 'sk-proj-' + randomBytes(30).toString('base64url');
    const lowered = new OpenAI({ baseURL: g.t.openaiBase, apiKey: g.keys.alice, maxRetries: 0, defaultHeaders: { 'x-portcullis-sensitivity': 'public' } });
    await chat(lowered, 'gpt-4o', `key ${secret}`);
    assert.equal(upstreamModel(), 'llama-3-local', 'attack: a "public" label cannot lower a restricted prompt');

    const bogus = new OpenAI({ baseURL: g.t.openaiBase, apiKey: g.keys.alice, maxRetries: 0, defaultHeaders: { 'x-portcullis-sensitivity': 'nothing-to-see' } });
    const err = await refusal(chat(bogus, 'gpt-4o'));
    assert.equal(err.status, 400);
    assert.match(err.message, /public, internal, confidential, restricted/);
  });

  it('sensitivity block: a rule that does not reroute refuses restricted data to an external model', async () => {
    const secret = 'sk-proj-' + randomBytes(30).toString('base64url');
    const err = await refusal(chat(bob, 'gpt-4o-mini', `token ${secret}`));
    assert.equal(err.status, 400);
    assert.match(err.message, /classified "restricted"; model "gpt-4o-mini" may not receive restricted data/);
    assert.ok(!err.message.includes(secret));
  });

  it('observe mode records what the version would decide without enforcing it; rollback restores enforcement', async () => {
    const strict = await push(DENY_GPT4O, 'eng loses gpt-4o');
    v.strict = strict.json.id as string;
    assert.equal((await activate(v.strict, 'observe')).status, 200);
    const r = await chat(alice, 'gpt-4o');
    const row = await finishedExchange(g.t.gw, r.response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.status, 'completed', 'not enforced: the request went through');
    assert.equal(row.decision!.effect, 'deny');
    assert.equal(row.decision!.enforced, false);
    assert.ok((row.decision!.reasons as { code: string }[]).some((x) => x.code === 'observe_mode'));
    // Our sensitivity label never reaches the provider, in observe mode either.
    await chat(alice, 'gpt-4o', 'labelled', { metadata: { portcullis_sensitivity: 'internal', team: 'x' } });
    assert.deepEqual((g.t.mock.received.at(-1)!.body as { metadata?: unknown }).metadata, { team: 'x' });

    const back = await admin(g.adminUrl, g.keys.admin, 'POST', '/admin/v1/policies/rollback', {});
    assert.equal(back.json.id, v.v1);
    assert.equal(back.json.mode, 'enforce');
    assert.equal((await refusal(chat(alice, 'gpt-4o-mini'))).code, 'model_not_allowed', 'v1 enforced again');
    assert.ok((await chat(alice, 'gpt-4o')).data.choices.length > 0);
  });

  it('hot activation: a stream in flight finishes under the version it started with; the next request uses the new one', async () => {
    const stream = await alice.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'a long answer' }] });
    let text = '';
    let activated = false;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (!activated) {
        activated = true;
        assert.equal((await activate(v.strict)).status, 200);
      }
    }
    assert.match(text, /a long answer/);
    assert.equal((await refusal(chat(alice, 'gpt-4o'))).code, 'model_not_allowed');
    assert.equal((await activate(v.v1)).status, 200);
  });

  it('simulation: the strict candidate on recorded traffic reports allowed→blocked per rule with example exchanges', async () => {
    const r = await admin(g.adminUrl, g.keys.author, 'POST', `/admin/v1/policies/${v.strict}/simulate`, { since: '1h' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const changes = r.json.changes as Record<string, { count: number; examples: string[] }>;
    assert.ok(changes.allowed_to_blocked!.count >= 3, JSON.stringify(changes));
    const byRule = r.json.by_rule as { rule: string; change: string; count: number; examples: string[] }[];
    const noRule = byRule.find((b) => b.rule === '(no_matching_rule)' && b.change === 'allowed_to_blocked')!;
    assert.ok(noRule.count >= 3);
    const example = await g.t.gw.store.exchanges.get(noRule.examples[0]!);
    assert.equal(example!.model, 'gpt-4o');
    assert.ok((r.json.unchanged as number) > 0, 'bob and the refused requests are unchanged');
  });

  it('attack: a rule whose CEL condition fails at run time denies (fail closed) and says so', async () => {
    const cel = await push(CEL_BROKEN, 'cel on a missing claim');
    assert.equal((await activate(cel.json.id as string)).status, 200);
    const err = await refusal(chat(alice, 'gpt-4o'));
    assert.equal(err.code, 'evaluation_error');
    assert.equal(err.status, 503);
    assert.match(err.message, /rule "eng-models"/);
    assert.equal((await activate(v.v1)).status, 200);
  });

  it('attack: activating a version that does not exist changes nothing', async () => {
    for (const ref of ['v999', 'pv_00000000000000000000000000', '../../etc', 'active; drop']) {
      const r = await admin(g.adminUrl, g.keys.admin, 'POST', `/admin/v1/policies/${encodeURIComponent(ref)}/activate`, {});
      assert.equal(r.status, 404, ref);
    }
    assert.ok((await chat(alice, 'gpt-4o')).data.choices.length > 0, 'v1 still active');
  });

  it('attack: an invalid policy is refused at push with line and key', async () => {
    const r = await push('version: 1\nrules:\n  - id: x\n    effect: allow\n    when: "request.model =="\n', 'broken');
    assert.equal(r.status, 400);
    assert.match((r.json.error as { message: string }).message, /line 5: rules\[0\]\.when: CEL syntax error/);
  });

  it('fail closed: an active version that no longer compiles refuses every request until a good one is activated', async () => {
    const repo = (await import('../../src/store/policy-repo.ts')).openPolicyRepo(g.t.gw.store);
    const bad = await repo.create({ id: 'pv_01KBAD0000000000000000000X', hash: 'x', source: 'version: 2\n', author: 'old-gateway', message: 'stored by an older version', createdAt: Date.now() });
    await repo.activate({ versionId: bad.id, mode: 'enforce', action: 'activate', at: Date.now(), by: 'test' });
    await g.policy.runtime.refresh();
    assert.notEqual(g.policy.runtime.state().error, null);
    const err = await refusal(chat(alice, 'gpt-4o'));
    assert.equal(err.code, 'evaluation_error');
    assert.match(err.message, /cannot be evaluated/);
    assert.deepEqual((await alice.models.list()).data, []);
    assert.equal((await activate(v.v1)).status, 200);
    assert.ok((await chat(alice, 'gpt-4o')).data.choices.length > 0);
  });
});
