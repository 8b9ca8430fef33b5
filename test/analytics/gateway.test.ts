import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { runCli } from '../../src/cli/main.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { openApprovalRepo } from '../../src/store/approval-repo.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Usage analytics end to end (issue #15): real SDK traffic through the gateway, then the analytics API's numbers are
 * compared with the gateway's own records (the exchange list), and the CLI prints the same table.
 */
let t: TestGateway;
before(async () => {
  t = await startTestGateway({ extraYaml: 'analytics:\n  roll_interval_ms: 60000\n' });
});
after(() => t.close());

async function admin(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(new URL(path, t.gw.url), { headers: { authorization: `Bearer ${t.adminKey}` } });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

interface Total { value: string; requests: number; input_tokens: number; output_tokens: number; refused: number; errors: number; exchanges: Record<string, string> | null }

test('the numbers equal the records: by model, status, refusal, client and group; every number links to its exchanges', async () => {
  const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
  const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
  for (let i = 0; i < 3; i++) await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `hello ${i}` }] });
  const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream' }] });
  for await (const _ of stream) void _;
  await anthropic.messages.create({ model: 'claude-sonnet-4', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
  await assert.rejects(openai.chat.completions.create({ model: 'not-routed', messages: [{ role: 'user', content: 'x' }] }));

  const list = await admin('/admin/v1/exchanges?limit=100');
  const records = (list.body.data as { model: string | null; status: string; usage?: { input_tokens?: number; inputTokens?: number } }[]);
  assert.equal(records.length, 6, 'six exchanges were recorded');

  const byModel = await admin('/admin/v1/analytics/usage?by=model&since=1h&granularity=minute');
  assert.equal(byModel.status, 200, JSON.stringify(byModel.body));
  const totals = byModel.body.totals as Total[];
  const want = new Map<string, number>();
  for (const r of records) if (r.model) want.set(r.model, (want.get(r.model) ?? 0) + 1);
  assert.deepEqual(new Map(totals.map((x) => [x.value, x.requests])), want);
  const gpt = totals.find((x) => x.value === 'gpt-4o')!;
  assert.ok(gpt.input_tokens > 0 && gpt.output_tokens > 0, 'tokens were counted from the recorded usage');
  assert.equal(gpt.exchanges?.model, 'gpt-4o');
  const linked = await admin(`/admin/v1/exchanges?${new URLSearchParams(gpt.exchanges).toString()}`);
  assert.equal((linked.body.data as unknown[]).length, 3, 'the link lists exactly the exchanges behind the number');

  const byRefusal = (await admin('/admin/v1/analytics/usage?by=refusal&since=1h')).body.totals as Total[];
  assert.deepEqual(byRefusal.map((x) => [x.value, x.requests]), [['unknown_model', 1]]);
  const refusedLink = await admin(`/admin/v1/exchanges?${new URLSearchParams(byRefusal[0]!.exchanges!).toString()}`);
  assert.deepEqual((refusedLink.body.data as { error_code: string }[]).map((x) => x.error_code), ['unknown_model'], 'a refusal reason links to the exchanges refused with that code');
  const all = ((await admin('/admin/v1/analytics/usage?since=1h')).body.totals as Total[])[0]!;
  assert.equal(all.requests, 6);
  assert.equal(all.refused, 1);

  const byClient = (await admin('/admin/v1/analytics/usage?by=client&since=1h')).body.totals as Total[];
  assert.deepEqual(new Map(byClient.map((x) => [x.value, x.requests])), new Map([['openai-js', 5], ['anthropic-js', 1]]));
  const anthropicLink = await admin(`/admin/v1/exchanges?${new URLSearchParams(byClient.find((x) => x.value === 'anthropic-js')!.exchanges!).toString()}`);
  assert.deepEqual((anthropicLink.body.data as { model: string }[]).map((x) => x.model), ['claude-sonnet-4'], 'a client tool links to its exchanges');
  const eng = (await admin('/admin/v1/analytics/usage?group=eng&since=1h')).body;
  assert.equal(eng.filter, 'group=eng');
  const engAll = (eng.totals as Total[])[0]!;
  assert.equal(engAll.requests, 6, 'the user key is in group eng');
  assert.equal(engAll.exchanges?.group, 'eng', 'under a group filter, numbers link with that group');
  assert.equal(((await admin(`/admin/v1/exchanges?${new URLSearchParams(engAll.exchanges).toString()}`)).body.data as unknown[]).length, 6);
  // An unknown status or a value no client tool, finding type or group can have is refused in the API's error shape.
  for (const bad of ['status=completed,done', 'client_tool=Open%20AI', 'finding_type=email', 'group=a%07b']) {
    const r = await admin(`/admin/v1/exchanges?${bad}`);
    assert.equal(r.status, 400, bad);
    assert.equal((r.body.error as { code: string }).code, 'invalid_request', bad);
  }
  const errors = await admin('/admin/v1/exchanges?status=upstream_error,incomplete,failed,client_aborted');
  assert.deepEqual(errors.body.data, [], 'no errors among these exchanges, as the Errors tile says');
  assert.equal(all.errors, 0);

  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await runCli(['analytics', '--by', 'model', '--since', '1h'], { stdin: new PassThrough(), stdout: out, stderr: out, env: { PORTCULLIS_GATEWAY: t.gw.url, PORTCULLIS_TOKEN: t.adminKey }, cwd: t.dir });
  assert.equal(code, 0, text);
  assert.match(text, /^gpt-4o\s+3\s/m);
  assert.match(text, /^claude-sonnet-4\s+1\s/m);
});

test('bad queries get clear errors; only admins and auditors may read usage', async () => {
  for (const [q, msg] of [['by=nope', /`by` must be one of/], ['since=yesterday', /ISO 8601/], ['group=a&model=b', /not both/], ['granularity=minute&since=30d', /Too many minute buckets/]] as const) {
    const r = await admin(`/admin/v1/analytics/usage?${q}`);
    assert.equal(r.status, 400, q);
    assert.match(String((r.body.error as { message: string }).message), msg);
  }
  const r = await fetch(new URL('/admin/v1/analytics/usage', t.gw.url), { headers: { authorization: `Bearer ${t.userKey}` } });
  assert.equal(r.status, 403);
  const badCode = await admin('/admin/v1/exchanges?error_code=x%27%20OR%201%3D1');
  assert.equal(badCode.status, 400);
  assert.match(String((badCode.body.error as { message: string }).message), /`error_code` must be an error code/);
});

test('approvals: the counts and the time to decision equal the approval records, in the API and the CLI', async () => {
  // Approvals as the approval gate opens them (the repo), decided through the real approvals API by an approver.
  const repo = openApprovalRepo(t.gw.store);
  const approver = (await createApiKey(t.gw.store.apiKeys, { name: 'reviewer', kind: 'user', groups: ['reviewers'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
  const now = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const id = `apr_stats_${i}`;
    ids.push(id);
    await repo.create({
      id, state: 'pending', ruleId: 'r1', mode: 'hold', scope: 'request', requester: i < 3 ? 'dana' : 'erin', requesterName: 'x', requesterGroups: ['eng'],
      endpoint: 'openai.chat', model: i % 2 ? 'gpt-4o-mini' : 'gpt-4o', policyVersion: null, decisionId: null, exchangeId: `ex_${i}`, digest: `d${i}`,
      approverGroups: ['reviewers'], quorum: 1, eachGroup: false, windowMs: null, justification: null, breakGlass: false, findings: [], sealedRequest: null,
      createdAt: now - 1000 * (i + 1), updatedAt: now, expiresAt: now + 3_600_000, decidedAt: null, decidedBy: null, reason: null,
    }, { approvalId: id, at: now, actor: 'dana', action: 'created', from: null, to: 'pending', reason: null });
  }
  for (const [id, verdict] of [[ids[0], 'approve'], [ids[1], 'deny'], [ids[2], 'approve']] as const) {
    const r = await fetch(new URL(`/admin/v1/approvals/${id}/${verdict}`, t.gw.url), { method: 'POST', headers: { authorization: `Bearer ${approver}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 200, await r.text());
  }
  const records = ((await admin('/admin/v1/approvals?limit=100')).body.data as { id: string; state: string; requester: string; created_at: string; decided_at: string | null }[])
    .filter((r) => r.id.startsWith('apr_stats_'));
  assert.equal(records.length, 4);
  const decided = records.filter((r) => r.decided_at !== null).map((r) => Date.parse(r.decided_at!) - Date.parse(r.created_at));

  type A = { requested: number; approved: number; denied: number; expired: number; time_to_decision_ms: { decided: number; avg: number | null } };
  const all = ((await admin('/admin/v1/analytics/usage?since=1h&granularity=minute')).body.totals as { approvals: A }[])[0]!.approvals;
  assert.equal(all.requested, records.length);
  assert.equal(all.approved, records.filter((r) => r.state === 'approved').length);
  assert.equal(all.denied, records.filter((r) => r.state === 'denied').length);
  assert.equal(all.expired, 0);
  assert.equal(all.time_to_decision_ms.decided, decided.length);
  assert.equal(all.time_to_decision_ms.avg, Math.round(decided.reduce((a, b) => a + b, 0) / decided.length));
  const byUser = (await admin('/admin/v1/analytics/usage?by=user&since=1h')).body.totals as { value: string; approvals: A }[];
  assert.equal(byUser.find((x) => x.value === 'dana')?.approvals.requested, 3, 'counted under the requester');
  assert.equal(byUser.find((x) => x.value === 'erin')?.approvals.requested, 1);

  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await runCli(['analytics', '--approvals', '--since', '1h'], { stdin: new PassThrough(), stdout: out, stderr: out, env: { PORTCULLIS_GATEWAY: t.gw.url, PORTCULLIS_TOKEN: t.adminKey }, cwd: t.dir });
  assert.equal(code, 0, text);
  assert.match(text, /REQUESTED\s+APPROVED\s+DENIED/);
  assert.match(text, /^\(all\)\s+4\s+2\s+1\s+0\s+0\s/m);
});
