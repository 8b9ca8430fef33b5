import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { runCli } from '../../src/cli/main.ts';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstreamMcp, type UpstreamMcp } from '../mcp/upstream-server.ts';

/**
 * `respond: require_approval` end to end (issue #15 item 3) with the real OpenAI SDK: refusals fire the rule; the
 * identity's next request is held and refused pending approval; an approver of the rule's group approves and the
 * identical retry goes through once; the attack — the same identity switching to another of its keys — is held
 * again; the identity cannot approve itself; lifting (CLI, as for suspensions) removes the requirement.
 */
let t: TestGateway;
let upstream: UpstreamMcp;
const MCP_TOKEN = 'upstream-mcp-token-' + 'r'.repeat(20);

before(async () => {
  upstream = await startUpstreamMcp({ token: MCP_TOKEN });
  process.env.PCL_TEST_MCP_TOKEN_RESPOND = MCP_TOKEN;
  t = await startTestGateway({
    extraYaml: `
mcp:
  servers:
    - { name: tools, url: "${upstream.url}", credential: "env:PCL_TEST_MCP_TOKEN_RESPOND" }
approvals:
  max_hold_seconds: 1
alerts:
  eval_interval_ms: 100
  suspension_refresh_ms: 200
  rules:
    - { id: odd-models, kind: refusals, codes: [unknown_model], threshold: 3, window_minutes: 10, respond: require_approval, approvers: [sec] }
`,
  });
});
after(async () => {
  await t.close();
  await upstream.close();
});

async function api(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(new URL(path, t.gw.url), { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

const ask = (key: string, model = 'gpt-4o') => new OpenAI({ baseURL: t.openaiBase, apiKey: key, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'summarise the incident' }] });

/** 'ok', or the refusal as `<status> <code> <approval id>`. */
async function outcome(key: string): Promise<string> {
  const err = await ask(key).then(() => undefined, (e: unknown) => e as { status: number; code: string; headers: Headers; message: string });
  return err ? `${err.status} ${err.code} ${err.headers.get('x-portcullis-approval-id') ?? '-'} ${err.message}` : 'ok';
}

test('after the rule fires, every key of the identity needs an approval per request until an admin lifts it', async () => {
  const key = async (name: string, groups: string[]) => (await api(t.adminKey, 'POST', '/admin/v1/keys', { name, groups })).body.key as string;
  const m1 = await key('mallory', ['eng']);
  const m2 = await key('mallory', ['eng']);
  const sam = await key('sam', ['sec']);
  assert.equal(await outcome(m1), 'ok');
  for (let i = 0; i < 3; i++) await assert.rejects(ask(m1, 'not-routed'), /not available/);

  const held = await eventually(async () => {
    const o = await outcome(m1);
    return o === 'ok' ? undefined : o;
  }, 15_000);
  // As for a policy rule's approval on OpenAI paths (docs/approvals.md): 400, the approval id in a header.
  const [status, code, approvalId] = held.split(' ');
  assert.equal(`${status} ${code}`, '400 approval_required', held);
  assert.match(approvalId!, /^apr_/);
  const listed = (await api(t.adminKey, 'GET', '/admin/v1/suspensions')).body.data as Record<string, unknown>[];
  assert.deepEqual(listed.map((s) => [s.identity, s.mode, s.approvers]), [['user:mallory', 'require_approval', ['sec']]]);
  const inv = ((await api(t.adminKey, 'GET', '/admin/v1/investigations')).body.data as Record<string, unknown>[])[0]!;
  assert.equal(inv.response, 'require_approval');
  // The investigation says the response in force is a hold for approval, not a suspension (the console words it so).
  const detail = (await api(t.adminKey, 'GET', `/admin/v1/investigations/${String(inv.id)}`)).body;
  assert.equal(detail.suspended, false, 'a hold for approval is not a suspension');
  assert.deepEqual({ ...(detail.active_response as Record<string, unknown>), since: typeof (detail.active_response as { since: unknown }).since },
    { mode: 'require_approval', approvers: ['sec'], since: 'string' });
  const pending = (await api(sam, 'GET', `/admin/v1/approvals/${approvalId}`)).body;
  assert.equal(pending.state, 'pending');
  assert.deepEqual(pending.approver_groups ?? pending.approverGroups, ['sec']);

  // The identity cannot approve its own request, with either key.
  for (const k of [m1, m2]) assert.notEqual((await api(k, 'POST', `/admin/v1/approvals/${approvalId}/approve`, {})).status, 200);
  const approved = await api(sam, 'POST', `/admin/v1/approvals/${approvalId}/approve`, {});
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.state, 'approved');
  const retried = await ask(m1).withResponse();
  assert.equal(retried.data.object, 'chat.completion', 'the identical retry goes through once approved');
  // The exchange records the alert's approval beside the policy decision.
  const exchange = (await api(t.adminKey, 'GET', `/admin/v1/exchanges/${retried.response.headers.get('x-portcullis-exchange-id')}`)).body;
  assert.deepEqual((exchange.decision as { alert_approval: unknown }).alert_approval, { id: approvalId, outcome: 'approved', rule: `alert:${String(inv.id)}` });
  const again = await outcome(m1);
  assert.match(again, /^400 approval_required apr_/, 'an approval covers one request');
  assert.notEqual(again.split(' ')[2], approvalId);

  // The attack: the same identity switches to its other key — still held, on /v1 and on MCP tools/call.
  assert.match(await outcome(m2), /^400 approval_required apr_/);
  const agent = new Client({ name: 'agent', version: '1' });
  await agent.connect(new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/tools`), { requestInit: { headers: { Authorization: `Bearer ${m2}` } } }));
  const call = () => agent.callTool({ name: 'run_sql', arguments: { sql: 'SELECT 1' } }) as Promise<CallToolResult>;
  const refusedCall = await call();
  assert.equal(refusedCall.isError, true);
  const meta = (refusedCall._meta as { portcullis: { code: string } }).portcullis;
  assert.equal(meta.code, 'approval_required');
  assert.ok(!upstream.calls.some((c) => c.args.sql === 'SELECT 1'), 'nothing ran while held');
  const toolApproval = ((await api(sam, 'GET', '/admin/v1/approvals?state=pending')).body.data as { id: string; requester: string }[]).find((x) => x.requester === 'user:mallory' && x.id !== again.split(' ')[2]);
  assert.ok(toolApproval);
  assert.equal((await api(sam, 'POST', `/admin/v1/approvals/${toolApproval.id}/approve`, {})).status, 200);
  const ran = await call();
  assert.notEqual(ran.isError, true, JSON.stringify(ran));
  assert.ok(upstream.calls.some((c) => c.args.sql === 'SELECT 1'), 'the approved call ran');
  await agent.close();
  assert.equal(await outcome(t.userKey), 'ok', 'others are not affected');

  // Lifted with the suspensions CLI: both keys go through without approval.
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const rc = await runCli(['suspensions', 'lift', 'user:mallory'], { stdin: new PassThrough(), stdout: out, stderr: out, env: { PORTCULLIS_GATEWAY: t.gw.url, PORTCULLIS_TOKEN: t.adminKey }, cwd: t.dir });
  assert.equal(rc, 0, text);
  for (const k of [m1, m2]) assert.equal(await outcome(k), 'ok');
  assert.deepEqual((await api(t.adminKey, 'GET', '/admin/v1/suspensions')).body.data, []);
});
