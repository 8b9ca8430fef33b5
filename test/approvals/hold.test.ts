import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { finishedExchange, eventually } from '../helpers/gateway.ts';
import { harnessSuite } from './harness.ts';

/** Hold mode end to end: the real OpenAI/Anthropic SDKs wait while another person decides through the CLI or the API. */
describe('approvals: hold mode', () => {
  const suite = harnessSuite();
  const h = suite.h;
  const openai = suite.openai;

  const ask = (content: string, headers?: Record<string, string>) =>
    openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content }] }, { headers });

  test('a held request completes with the upstream answer once an approver approves in another process (CLI)', async () => {
    h.setRule({});
    const call = ask('quarterly numbers please', { 'x-portcullis-justification': 'board deck' }).withResponse();
    const id = await h.pendingFor('user:alice');
    const hook = await eventually(async () => h.webhooks.find((w) => w.path === '/generic' && (w.body.approval as { id: string }).id === id));
    assert.equal(hook.body.link, `${h.adminUrl}/admin/v1/approvals/${id}`);
    assert.equal((hook.body.approval as { justification: string }).justification, 'board deck');
    assert.ok(!JSON.stringify(hook.body).includes('quarterly'), 'the webhook never carries the prompt');
    const slack = await eventually(async () => h.webhooks.find((w) => w.path === '/slack' && String(w.body.text).includes(id)));
    assert.ok(String(slack.body.text).includes(`<${h.adminUrl}/console/#/approvals/${id}|`));
    assert.equal(hook.body.console_link, `${h.adminUrl}/console/#/approvals/${id}`);

    const show = await h.cli(h.keys.bob, ['show', id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /quarterly numbers please/);
    const approved = await h.cli(h.keys.bob, ['approve', id, '--reason', 'ok for the board']);
    assert.equal(approved.code, 0, approved.stderr);
    const { data, response } = await call;
    assert.ok(data.choices[0]?.message.content);
    const row = await finishedExchange(h.t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.status, 'completed');
    assert.equal(row.decision?.approvalId, id);
    const status = await h.cli(h.keys.alice, ['status', id]);
    assert.match(status.stdout, new RegExp(`${id} executed`));
    const detail = await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${id}`);
    const history = (detail.json.history as { action: string; to: string | null; actor: string }[]).map((e) => `${e.action}:${e.to ?? ''}:${e.actor}`);
    assert.deepEqual(history, ['created:pending:user:alice', 'vote:approve::user:bob', 'transition:approved:user:bob', 'transition:executed:user:alice']);
    assert.deepEqual(h.emitted.filter((e) => e.refId === id).map((e) => e.kind), ['approval.requested', 'approval.vote_approve', 'approval.approved', 'approval.executed']);
  });

  test('a held stream gets `: waiting for approval` comments, then the upstream stream', async () => {
    h.setRule({});
    const res = fetch(`${h.t.openaiBase}/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${h.keys.alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'stream it' }] }),
    });
    const id = await h.pendingFor('user:alice');
    const r = await res;
    assert.equal(r.status, 200);
    const reader = r.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^: waiting for approval\n\n/);
    await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${id}/approve`, { reason: 'fine' });
    let text = first;
    for (let c = await reader.read(); !c.done; c = await reader.read()) text += new TextDecoder().decode(c.value);
    assert.match(text, /data: \{.*"chat.completion.chunk"/);
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  test('the SDK stream completes after approval (keep-alive comments are invisible to it)', async () => {
    h.setRule({});
    const stream = await Promise.all([
      openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'sdk stream' }] }),
      (async () => {
        const id = await h.pendingFor('user:alice');
        await new Promise((ok) => setTimeout(ok, 1200));
        await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${id}/approve`, {});
      })(),
    ]);
    let text = '';
    for await (const chunk of stream[0]) text += chunk.choices[0]?.delta.content ?? '';
    assert.ok(text.length > 0);
  });

  test('deny → the provider-native error with the approval id and reason', async () => {
    h.setRule({});
    const call = ask('please').catch((e: unknown) => e);
    const id = await h.pendingFor('user:alice');
    const r = await h.cli(h.keys.bob, ['deny', id, '--reason', 'contains customer data']);
    assert.equal(r.code, 0, r.stderr);
    const err = await call;
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'approval_denied');
    assert.match(err.message, new RegExp(id));
    assert.match(err.message, /contains customer data/);
  });

  test('Anthropic stream: a denial arrives as an Anthropic error event after the keep-alives', async () => {
    h.setRule({});
    const anthropic = new Anthropic({ apiKey: h.keys.alice, baseURL: h.t.anthropicBase, maxRetries: 0 });
    const consume = (async () => {
      const s = await anthropic.messages.create({ model: 'claude-3-5-sonnet', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'hi' }] });
      for await (const _ of s) { /* drain */ }
    })().catch((e: unknown) => e);
    const id = await h.pendingFor('user:alice');
    await new Promise((ok) => setTimeout(ok, 1200));
    await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${id}/deny`, { reason: 'not now' });
    const err = await consume;
    assert.ok(err instanceof Anthropic.APIError, String(err));
    assert.match(err.message, /not now/);
  });

  test('nobody decides in time → native error, state expired', async () => {
    h.setRule({ pending_ms: 800 });
    const err = await ask('slow reviewers').catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.equal(err.code, 'approval_denied');
    const id = (err.error as { portcullis?: { approval_id?: string } }).portcullis?.approval_id;
    assert.ok(id);
    assert.equal((await h.api(h.keys.alice, 'GET', `/admin/v1/approvals/${id}`)).json.state, 'expired');
  });

  test('the client goes away → cancelled', async () => {
    h.setRule({});
    const ac = new AbortController();
    const call = ask('never mind', undefined).catch((e: unknown) => e);
    void call;
    const aborted = openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'abort me' }] }, { signal: ac.signal }).catch((e: unknown) => e);
    const first = await h.pendingFor('user:alice');
    const second = await h.pendingFor('user:alice', new Set([first]));
    const rows = await Promise.all([first, second].map(async (id) => (await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${id}`)).json));
    const target = rows.find((r) => (r.request as { messages: { content: string }[] }).messages[0]?.content === 'abort me')!;
    const other = rows.find((r) => r !== target)!;
    ac.abort();
    await aborted;
    await eventually(async () => ((await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${String(target.id)}`)).json.state === 'cancelled' ? true : undefined));
    const hist = (await h.api(h.keys.bob, 'GET', `/admin/v1/approvals/${String(target.id)}`)).json.history as { to: string | null; reason: string | null }[];
    assert.ok(hist.some((e) => e.to === 'cancelled' && e.reason === 'client disconnected'));
    await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${String(other.id)}/deny`, { reason: 'cleanup' });
    await call;
  });

  test('break-glass members skip review and the exchange is flagged; others cannot', async () => {
    h.setRule({});
    const breaker = new OpenAI({ apiKey: h.keys.breaker, baseURL: h.t.openaiBase, maxRetries: 0 });
    const { response } = await breaker.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'incident 42' }] }, { headers: { 'x-portcullis-break-glass': 'sev1 incident' } }).withResponse();
    const row = await finishedExchange(h.t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.decision?.breakGlass, true);
    const apr = await h.api(h.keys.dave, 'GET', `/admin/v1/approvals/${String(row.decision?.approvalId)}`);
    assert.equal(apr.json.break_glass, true);
    assert.equal(apr.json.state, 'executed');
    // alice is not in a break-glass group: her header is ignored and she waits like everyone else.
    const call = ask('me too', { 'x-portcullis-break-glass': 'trust me' }).catch((e: unknown) => e);
    const id = await h.pendingFor('user:alice');
    await h.api(h.keys.bob, 'POST', `/admin/v1/approvals/${id}/deny`, { reason: 'no' });
    assert.ok((await call) instanceof OpenAI.BadRequestError);
  });
});
