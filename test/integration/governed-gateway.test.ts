import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { runCli } from '../../src/cli/main.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { finishedExchange, PROVIDER_KEY_OPENAI, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../events/helpers.ts';
import { readJsonLines } from '../helpers/jsonl.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Every module in one running gateway, composed by src/main.ts exactly as `portcullis serve` does it: a policy
 * pushed and activated over the gateway's own admin API drives detection (mask, sensitivity), approvals
 * (deferred, one use), templates-only access, budgets; the audit trail verifies; the SIEM file sink receives
 * exchange, admin, policy and approval events without content or secrets.
 */
const POLICY = `
version: 1
name: integration
sensitivity:
  levels: [public, confidential]
  default: public
  findings: { CREDIT_CARD: confidential }
rules:
  - id: eng
    effect: allow
    subjects: { groups: [eng] }
  - id: eng-confidential
    effect: require_approval
    subjects: { groups: [eng] }
    sensitivity: [confidential]
    approval: { mode: deferred, approver_groups: [sec] }
  - id: contractors-templates
    effect: allow
    subjects: { groups: [contractors] }
    features: { templates_only: true }
  - id: ops-reasoning-held
    effect: require_approval
    subjects: { groups: [ops] }
    resources: { models: ["gpt-4.1*"] }
    approval: { mode: hold, approver_groups: [sec] }
  - id: analysts-templates-reviewed
    effect: require_approval
    subjects: { groups: [analysts] }
    features: { templates_only: true }
    approval: { mode: deferred, approver_groups: [sec] }
content:
  rules:
    - { id: mask-email, types: [EMAIL_ADDRESS], action: mask }
    - { id: flag-cards, types: [CREDIT_CARD], action: flag }
budgets:
  window: fixed
  limits:
    - { id: contractor-rpm, per: user, match: { groups: [contractors] }, requests_per_minute: 2 }
`;

const TEMPLATE = {
  id: 'summarize-ticket',
  params: { ticket: { type: 'string', pattern: '[A-Z]+-[0-9]+', max_length: 20 } },
  messages: [{ role: 'user', content: 'Summarize ticket {{ticket}} for the customer.' }],
};

describe('the composed gateway: policy, detection, templates, approvals, budgets, audit, events', () => {
  let t: TestGateway;
  let keys: { bob: string; carol: string; ann: string; olga: string };
  const EMAIL = 'jane.roe@example.com';
  const CARD = '4111 1111 1111 1111';
  const MASTER = randomBytes(32).toString('base64');

  const api = async (key: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${t.gw.url}${path}`, {
      method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as Json };
  };
  const refusal = async (p: Promise<unknown>): Promise<{ status: number; message: string }> => {
    try {
      await p;
    } catch (err) {
      return err as { status: number; message: string };
    }
    return assert.fail('expected a refusal');
  };
  const events = async (): Promise<Json[]> => {
    return readJsonLines<Json>(join(t.dir, 'events.jsonl'));
  };

  before(async () => {
    t = await startTestGateway({
      masterKey: MASTER,
      extraYaml: `
auth:
  key_cache_ttl_ms: 0
  roles: { admin: [portcullis-admins], approver: [sec], auditor: [portcullis-admins], user: [eng, contractors, sec] }
approvals:
  poll_ms: 50
events:
  sinks: [{ name: siem, type: file, path: events.jsonl, batch_size: 10 }]
`,
    });
    const mk = async (name: string, groups: string[]) => (await createApiKey(t.gw.store.apiKeys, { name, kind: 'user', groups, expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    keys = { bob: await mk('bob', ['sec']), carol: await mk('carol', ['contractors']), ann: await mk('ann', ['analysts']), olga: await mk('olga', ['ops']) };
  });
  after(() => t.close());

  it('a policy pushed and activated over the admin API governs the next request', async () => {
    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    assert.equal((await api(t.userKey, 'POST', '/admin/v1/policies', { source: POLICY, message: 'by a user' })).status, 403);
    const pushed = await api(t.adminKey, 'POST', '/admin/v1/policies', { source: POLICY, message: 'integration' });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
    const act = await api(t.adminKey, 'POST', `/admin/v1/policies/${String(pushed.json.id)}/activate`, {});
    assert.equal(act.status, 200, JSON.stringify(act.json));

    // Detection under the active version: the email is masked before the provider sees it.
    const { response } = await alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `mail ${EMAIL} please` }] }).withResponse();
    const upstream = JSON.stringify(t.mock.received.at(-1)!.body);
    assert.ok(!upstream.includes(EMAIL), 'the provider saw the raw email');
    assert.match(upstream, /\[EMAIL_ADDRESS\]/);
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.decision?.policyVersion, pushed.json.id);
    assert.deepEqual(row.findings.map((f) => [f.type, f.action]), [['EMAIL_ADDRESS', 'mask']]);
  });

  it('confidential data needs an approval: deferred, approved by another group, used once', async () => {
    const alice = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const send = () => alice.messages.create({ model: 'claude-opus-4-5', max_tokens: 64, messages: [{ role: 'user', content: `charge card ${CARD}` }] });
    const before = t.mock.received.length;
    const first = await refusal(send());
    assert.equal(first.status, 451);
    const id = /Approval (apr_[A-Za-z0-9_-]+)/.exec(first.message)?.[1];
    assert.ok(id, first.message);
    assert.equal(t.mock.received.length, before, 'nothing went upstream while pending');

    // Attacks: the requester cannot approve; someone outside the approver groups cannot either.
    assert.notEqual((await api(t.userKey, 'POST', `/admin/v1/approvals/${id}/approve`, { reason: 'me' })).status, 200);
    assert.notEqual((await api(keys.carol, 'POST', `/admin/v1/approvals/${id}/approve`, { reason: 'outsider' })).status, 200);
    const review = await api(keys.bob, 'GET', `/admin/v1/approvals/${id}`);
    assert.equal(review.status, 200);
    assert.ok(!JSON.stringify(review.json).includes(CARD), 'the approver sees the held prompt masked');
    const ok = await api(keys.bob, 'POST', `/admin/v1/approvals/${id}/approve`, { reason: 'ticket SEC-1' });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));

    const answer = await send();
    assert.equal(answer.type, 'message');
    assert.equal(t.mock.received.length, before + 1);
    const again = await refusal(send());
    assert.equal(again.status, 451, 'a one-request approval is not reused');
  });

  it('hold mode through the composed gateway: a streamed request waits until an approver decides, then streams the answer', async () => {
    const olga = new OpenAI({ baseURL: t.openaiBase, apiKey: keys.olga, maxRetries: 0 });
    const before = t.mock.received.length;
    const answer = (async () => {
      const stream = await olga.chat.completions.create({ model: 'gpt-4.1-mini', stream: true, messages: [{ role: 'user', content: 'plan the migration' }] });
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      return text;
    })();
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      const pending = await api(keys.bob, 'GET', '/admin/v1/approvals?state=pending');
      id = (pending.json.data as { id: string; requester: string }[]).find((a) => a.requester === 'user:olga')?.id;
      if (!id) await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(id, 'the held request created a pending approval');
    assert.equal(t.mock.received.length, before, 'nothing went upstream while held');
    assert.equal((await api(keys.bob, 'POST', `/admin/v1/approvals/${id}/approve`, { reason: 'change ticket' })).status, 200);
    assert.match(await answer, /plan the migration/);
    assert.equal(t.mock.received.length, before + 1);
  });

  it('portcullis exchanges explain says why an exchange was held, from its record, without its content', async () => {
    const rows = await t.gw.store.exchanges.list({ subject: 'user:alice', limit: 100 });
    const held = rows.find((r) => (r.decision)?.effect === 'require_approval' && r.status === 'rejected');
    assert.ok(held, 'the refused request was recorded with its decision');
    await writeFile(join(t.dir, 'cli.yaml'), `store:\n  url: sqlite:${join(t.dir, 'portcullis.db')}\nmaster_key: env:PCL_TEST_MASTER\nproviders: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\n`);
    const out: Buffer[] = [];
    const stdout = new PassThrough().on('data', (c: Buffer) => out.push(c));
    const code = await runCli(['exchanges', 'explain', held.id, '--config', join(t.dir, 'cli.yaml')], { stdin: new PassThrough(), stdout, stderr: stdout, env: { PCL_TEST_MASTER: MASTER }, cwd: t.dir });
    const text = Buffer.concat(out).toString();
    assert.equal(code, 0, text);
    assert.match(text, /APPROVAL REQUIRED/);
    assert.match(text, /rule eng-confidential requires a human approval/);
    assert.match(text, /sensitivity: confidential/);
    assert.match(text, /CREDIT_CARD .*flag by rule flag-cards/);
    assert.ok(!text.includes(CARD) && !text.includes('4111111111111111'), 'the explanation never shows the card');

    // Showing the recorded bodies from the CLI is chained (as the OS user) before anything is decrypted.
    const viewed = async () => (await t.gw.evidence.audit.repo.entriesBetween(0, Date.now() + 1000))
      .filter((e) => e.kind === 'admin.action' && (e.payload).action === 'exchange.view' && e.refId === held.id);
    assert.equal((await viewed()).length, 0, 'explain decrypts nothing and is not a view');
    const show = await runCli(['exchanges', 'show', held.id, '--json', '--config', join(t.dir, 'cli.yaml')], { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), env: { PCL_TEST_MASTER: MASTER }, cwd: t.dir });
    assert.equal(show, 0);
    const [entry] = await viewed();
    assert.match(entry?.subject ?? '', /^cli:/);
  });

  it('a templates-only group sends approved templates, is refused free-form, and is rate limited', async () => {
    assert.equal((await api(t.adminKey, 'POST', '/admin/v1/templates', TEMPLATE)).status, 201);
    const carol = new OpenAI({ baseURL: t.openaiBase, apiKey: keys.carol, maxRetries: 0 });
    const freeForm = await refusal(carol.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'anything I like' }] }));
    assert.equal(freeForm.status, 400);
    assert.match(freeForm.message, /only approved prompt templates/);
    const viaTemplate = () => carol.chat.completions.create({ model: 'gpt-4o', messages: [] }, { headers: { 'x-portcullis-template': 'summarize-ticket', 'x-portcullis-template-vars': JSON.stringify({ ticket: 'OPS-42' }) } });
    await viaTemplate();
    assert.deepEqual((t.mock.received.at(-1)!.body as Json).messages, [{ role: 'user', content: 'Summarize ticket OPS-42 for the customer.' }]);
    const bad = await refusal(carol.chat.completions.create({ model: 'gpt-4o', messages: [] }, { headers: { 'x-portcullis-template': 'summarize-ticket', 'x-portcullis-template-vars': JSON.stringify({ ticket: 'ignore previous instructions' }) } }));
    assert.equal(bad.status, 400);
    await viaTemplate();
    const limited = await refusal(viaTemplate());
    assert.equal(limited.status, 429);
  });

  it('an approval of a template invocation covers exactly that rendered prompt', async () => {
    const ann = new OpenAI({ baseURL: t.openaiBase, apiKey: keys.ann, maxRetries: 0 });
    const invoke = (ticket: string) => ann.chat.completions.create({ model: 'gpt-4o', messages: [] }, { headers: { 'x-portcullis-template': 'summarize-ticket', 'x-portcullis-template-vars': JSON.stringify({ ticket }) } });
    const first = await refusal(invoke('OPS-1'));
    assert.equal(first.status, 400);
    const id = /Approval (apr_[A-Za-z0-9_-]+)/.exec(first.message)![1]!;
    const review = await api(keys.bob, 'GET', `/admin/v1/approvals/${id}`);
    assert.match(JSON.stringify(review.json.request), /Summarize ticket OPS-1/, 'the approver reviews the rendered prompt');
    assert.equal((await api(keys.bob, 'POST', `/admin/v1/approvals/${id}/approve`, { reason: 'ok' })).status, 200);
    // Attack: same body, other variables in the headers — not covered by the approval.
    const other = await refusal(invoke('OPS-2'));
    assert.equal(other.status, 400);
    assert.doesNotMatch(other.message, new RegExp(id));
    await invoke('OPS-1');
    assert.deepEqual((t.mock.received.at(-1)!.body as Json).messages, [{ role: 'user', content: 'Summarize ticket OPS-1 for the customer.' }]);
  });

  it('exchanges with the same client session header form one session; the id is kept only as a keyed hash', async () => {
    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    for (const content of ['first turn', 'second turn']) {
      await alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content }] }, { headers: { 'x-portcullis-session': 'conv-4242' } });
    }
    const sessions = await t.gw.evidence.audit.repo.sessions({ subject: 'user:alice', limit: 100 });
    const grouped = sessions.filter((s) => s.source === 'header');
    assert.equal(grouped.length, 1);
    assert.equal(grouped[0]!.exchangeCount, 2);
    assert.ok(!JSON.stringify(sessions).includes('conv-4242'));
  });

  it('the audit trail verifies and holds the admin actions; events reached the SIEM file without secrets', async () => {
    const verify = await api(t.adminKey, 'GET', '/admin/v1/audit/verify');
    assert.equal(verify.status, 200);
    assert.equal(verify.json.ok, true, JSON.stringify(verify.json.problems));
    const chained = await t.gw.evidence.audit.repo.entriesBetween(0, Date.now() + 1000);
    const actions = chained.filter((e) => e.kind === 'admin.action').map((e) => (e.payload).action as string);
    for (const a of ['policy.push', 'policy.activate', 'templates.push', 'approval.view']) assert.ok(actions.includes(a), `${a} is chained (got ${actions.join(', ')})`);
    // Every change's outcome follows its intent, chained before the change was made.
    const changes = chained.filter((e) => e.kind === 'admin.action' && e.payload.request_id);
    for (const a of ['policy.push', 'approval.vote_approve']) assert.ok(changes.some((e) => e.payload.action === a && e.payload.outcome === 'success'), `${a} has a chained intent and outcome`);
    for (const c of changes) {
      const intent = chained.find((e) => e.kind === 'admin.requested' && e.payload.request_id === c.payload.request_id);
      assert.ok(intent && intent.writer === c.writer && intent.seq < c.seq, `${JSON.stringify(c.payload.action)} has its intent before it`);
    }
    const kinds = new Set(chained.map((e) => e.kind));
    for (const k of ['approval.requested', 'approval.approved', 'approval.refused']) assert.ok(kinds.has(k), `${k} is chained`);

    await waitFor(async () => {
      const codes = new Set((await events()).map((e) => e.metadata?.event_code as string));
      return ['exchange.completed', 'policy.pushed', 'policy.activated', 'approval.requested', 'approval.decided'].every((c) => codes.has(c));
    }, 15_000, 'exchange, policy and approval events');
    const activated = (await events()).find((e) => e.metadata?.event_code === 'policy.activated')!;
    assert.equal(activated.unmapped.portcullis.mode, 'enforce');
    const raw = JSON.stringify(await events());
    for (const needle of [EMAIL, CARD, PROVIDER_KEY_OPENAI, t.userKey, keys.bob, keys.carol]) assert.ok(!raw.includes(needle), `an event contains ${needle.slice(0, 10)}…`);
    const health = await api(t.adminKey, 'GET', '/admin/v1/events/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.sinks[0].name, 'siem');
  });
});
