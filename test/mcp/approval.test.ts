import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createApiKey } from '../../src/identity/key-service.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

const TOKEN = 'upstream-mcp-token-' + 'q'.repeat(20);

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
mcp:
  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [tools] }
    - id: sql-writes
      effect: require_approval
      servers: [tools]
      tools: [run_sql]
      when: 'request.argument_text.matches("(?i)\\\\bdelete\\\\b")'
      approval: { approver_groups: [dba] }
`;

interface ApprovalList { data: { id: string; state: string; requester: string }[] }

describe('MCP tool calls held for a just-in-time approval', () => {
  let t: TestGateway;
  let upstream: UpstreamMcp;
  let client: Client;
  let dbaKey = '';

  const admin = async (key: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${t.gw.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, json: await r.json() as Record<string, unknown> };
  };
  const pendingApproval = () => eventually(async () => {
    const r = await admin(dbaKey, 'GET', '/admin/v1/approvals?state=pending');
    return (r.json as unknown as ApprovalList).data[0];
  }, 30_000);

  before(async () => {
    upstream = await startUpstreamMcp({ token: TOKEN });
    const dir = mkdtempSync(join(tmpdir(), 'pcl-mcp-appr-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    process.env.PCL_TEST_MCP_TOKEN_2 = TOKEN;
    t = await startTestGateway({ extraYaml: `
policy:
  file: ${join(dir, 'policy.yaml')}
mcp:
  servers:
    - name: tools
      url: ${upstream.url}
      credential: env:PCL_TEST_MCP_TOKEN_2
` });
    dbaKey = (await createApiKey(t.gw.store.apiKeys, { name: 'dba', kind: 'user', groups: ['dba'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    client = new Client({ name: 'agent', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/tools`), { requestInit: { headers: { Authorization: `Bearer ${t.userKey}` } } }));
  });

  after(async () => {
    await client?.close();
    await t?.close();
    await upstream?.close();
  });

  it('a DELETE is held (progress keeps the call alive), cannot be self-approved, and runs exactly as approved', async () => {
    let progress = 0;
    const call = client.callTool({ name: 'run_sql', arguments: { sql: 'DELETE FROM jobs WHERE id = 7' } }, undefined, {
      onprogress: () => void progress++, resetTimeoutOnProgress: true, timeout: 120_000,
    });
    const pending = await pendingApproval();
    assert.equal(pending.requester, 'user:alice');
    assert.ok(!upstream.calls.some((c) => String(c.args.sql).startsWith('DELETE')), 'nothing ran while held');
    const self = await admin(t.userKey, 'POST', `/admin/v1/approvals/${pending.id}/approve`, {});
    assert.ok(self.status === 403 || self.status === 409, `self-approval refused (got ${self.status})`);
    assert.equal((await admin(dbaKey, 'POST', `/admin/v1/approvals/${pending.id}/approve`, { reason: 'ticket 42' })).status, 200);
    const r = await call as CallToolResult;
    assert.equal(r.isError, undefined);
    assert.match((r.content[0] as { text: string }).text, /DELETE FROM jobs WHERE id = 7/);
    assert.ok(progress >= 1, 'the client got progress notifications while held');
    assert.deepEqual(upstream.calls.at(-1), { tool: 'run_sql', args: { sql: 'DELETE FROM jobs WHERE id = 7' } });
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'run_sql', limit: 10 })).find((e) => e.status === 'completed'));
    assert.equal((row.decision as { approvalId?: string }).approvalId, pending.id);
  });

  it('a denial is a tool error result the agent can show, and the server never sees the call', async () => {
    const before = upstream.calls.length;
    const call = client.callTool({ name: 'run_sql', arguments: { sql: 'delete from users' } }, undefined, { resetTimeoutOnProgress: true, onprogress: () => undefined, timeout: 120_000 });
    const pending = await pendingApproval();
    assert.equal((await admin(dbaKey, 'POST', `/admin/v1/approvals/${pending.id}/deny`, { reason: 'not during business hours' })).status, 200);
    const r = await call as CallToolResult;
    assert.equal(r.isError, true);
    assert.match((r.content[0] as { text: string }).text, /denied: not during business hours/);
    assert.equal(upstream.calls.length, before);
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'run_sql', limit: 10 })).find((e) => e.status === 'rejected'));
    assert.equal(row.errorCode, 'approval_denied');
  });

  it('a call without DELETE is not held', async () => {
    const r = await client.callTool({ name: 'run_sql', arguments: { sql: 'select 1' } }) as CallToolResult;
    assert.match((r.content[0] as { text: string }).text, /select 1/);
  });
});
