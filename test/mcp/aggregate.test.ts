import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createApiKey } from '../../src/identity/key-service.ts';
import { connectMcp, policyYaml, toolText } from './fixture.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

const TOKEN = 'aggregate-upstream-token-' + 'w'.repeat(20);
const STDIO_SERVER = fileURLToPath(new URL('./stdio-server.ts', import.meta.url));

// `vault` is a server eng may not use at all; `tools` and `local` are theirs, without delete_* tools.
const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
mcp:
  defaults: { effect: deny }
  rules:
    - id: eng
      effect: allow
      subjects: { groups: [eng] }
      servers: [tools, local]
    - id: no-delete
      effect: deny
      servers: ["*"]
      tools: ["delete_*"]
    - id: ops-vault
      effect: allow
      subjects: { groups: [ops] }
      servers: [vault]
    - id: no-secret-files
      effect: deny
      servers: ["*"]
      resources: ["file:///secret/*"]
    - id: no-admin-prompts
      effect: deny
      servers: ["*"]
      prompts: ["admin_*"]
`;

const text = toolText;

const connect = (base: string, key: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> => connectMcp(`${base}/mcp`, key, 'aggregate-agent');

describe('MCP front: the aggregated endpoint /mcp namespaces tools by server with the per-server controls', () => {
  let t: TestGateway;
  let tools: UpstreamMcp;
  let vault: UpstreamMcp;
  let client: Client;
  let transport: StreamableHTTPClientTransport;

  before(async () => {
    tools = await startUpstreamMcp({ token: TOKEN });
    vault = await startUpstreamMcp({ token: TOKEN });
    process.env.PCL_TEST_AGG_TOKEN = TOKEN;
    t = await startTestGateway({
      extraYaml: `${policyYaml(POLICY)}mcp:
  aggregate: { path: /mcp, servers: ["*"] }
  servers:
    - name: tools
      url: ${tools.url}
      credential: env:PCL_TEST_AGG_TOKEN
    - name: vault
      url: ${vault.url}
      credential: env:PCL_TEST_AGG_TOKEN
    - name: local
      command: ${JSON.stringify(process.execPath)}
      args: [${JSON.stringify(STDIO_SERVER)}]
`,
    });
    ({ client, transport } = await connect(t.gw.url, t.userKey));
  });

  after(async () => {
    await client?.close();
    await t?.close();
    await tools?.close();
    await vault?.close();
  });

  it('attack: tools/list shows only what the per-server lists show this caller — no denied tool, nothing of a denied server', async () => {
    const names = (await client.listTools()).tools.map((x) => x.name).sort();
    assert.deepEqual(names, ['local__crash', 'local__echo', 'local__environment', 'tools__ask_model', 'tools__echo', 'tools__run_sql']);
    assert.ok(!names.some((n) => n.includes('vault') || n.includes('delete')));
    assert.equal(vault.calls.length, 0);
  });

  it('a namespaced call reaches its server under its own name and is recorded per server', async () => {
    assert.equal(text(await client.callTool({ name: 'tools__echo', arguments: { text: 'via aggregate' } })), 'via aggregate');
    assert.deepEqual(tools.calls.at(-1), { tool: 'echo', args: { text: 'via aggregate' } });
    assert.equal(text(await client.callTool({ name: 'local__echo', arguments: { text: 'stdio via aggregate' } })), 'stdio via aggregate');
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'echo', limit: 20 })).find((e) => e.provider === 'mcp:tools' && e.status === 'completed'));
    assert.equal(row.subject, 'user:alice', 'the backend call is made as the caller');
    assert.equal(row.path, '/mcp/tools');
    assert.notEqual(row.clientIp, null);
  });

  it('attack: a denied tool or a denied server called by its namespaced name is refused with the per-server reason and never forwarded', async () => {
    await assert.rejects(client.callTool({ name: 'tools__delete_repo', arguments: { name: 'prod' } }), (err: Error & { code?: number; data?: { portcullis?: { code?: string } } }) => {
      assert.equal(err.code, -32001);
      assert.equal(err.data?.portcullis?.code, 'denied_by_policy');
      assert.match(err.message, /Policy does not allow the tool "delete_repo"/);
      return true;
    });
    await assert.rejects(client.callTool({ name: 'vault__echo', arguments: { text: 'x' } }));
    await assert.rejects(client.callTool({ name: 'nosuch__echo', arguments: { text: 'x' } }), /No tool "nosuch__echo"/);
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 'x' } }), /tool names are <server>__<tool>/);
    assert.ok(!tools.calls.some((c) => c.tool === 'delete_repo'));
    assert.equal(vault.calls.length, 0);
    const refused = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'delete_repo', limit: 5 })).find((e) => e.status === 'rejected'));
    assert.equal(refused.provider, 'mcp:tools');
  });

  it('resources and prompts: the union of what each member shows this caller, namespaced; reads and gets reach their server', async () => {
    assert.deepEqual((await client.listResources()).resources.map((r) => r.uri), ['tools__file:///public/readme.md']);
    assert.deepEqual((await client.listResourceTemplates()).resourceTemplates.map((x) => x.uriTemplate), ['tools__mailbox://{address}']);
    assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ['tools__write_to', 'tools__summarize']);
    const read = await client.readResource({ uri: 'tools__file:///public/readme.md' });
    assert.deepEqual(read.contents, [{ uri: 'tools__file:///public/readme.md', text: 'contents of file:///public/readme.md' }]);
    assert.deepEqual(tools.reads.at(-1), 'file:///public/readme.md');
    const prompt = await client.getPrompt({ name: 'tools__summarize' });
    assert.deepEqual(prompt.messages[0]!.content, { type: 'text', text: 'prompt summarize' });
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ limit: 50 })).find((e) => e.endpoint === 'mcp.resources_read' && e.status === 'completed'));
    assert.equal(row.provider, 'mcp:tools');
    assert.equal(row.subject, 'user:alice');
  });

  it('attack: a resource or prompt of a server the caller may not use, or one its policy denies, is refused and never reaches the server', async () => {
    await assert.rejects(client.readResource({ uri: 'vault__file:///public/readme.md' }));
    await assert.rejects(client.getPrompt({ name: 'vault__summarize' }));
    await assert.rejects(client.readResource({ uri: 'tools__file:///secret/keys.txt' }), (err: Error & { data?: { portcullis?: { code?: string } } }) => {
      assert.equal(err.data?.portcullis?.code, 'denied_by_policy');
      return true;
    });
    await assert.rejects(client.getPrompt({ name: 'tools__admin_override' }), /Policy does not allow the prompt "admin_override"/);
    await assert.rejects(client.readResource({ uri: 'file:///public/readme.md' }), /resource URIs are <server>__<uri>/);
    assert.deepEqual([vault.reads, vault.prompts], [[], []], 'nothing reached the server the caller may not use');
    assert.ok(!tools.reads.includes('file:///secret/keys.txt') && !tools.prompts.includes('admin_override'));
  });

  it('attack: the aggregated session id is bound to its caller; another identity gets 404', async () => {
    const { secret: other } = await createApiKey(t.gw.store.apiKeys, { name: 'mallory', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now());
    const res = await fetch(`${t.gw.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${other}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream',
        'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
    });
    assert.equal(res.status, 404);
  });

  it('a caller without a Portcullis credential gets 401 pointing at the aggregated resource\'s metadata', async () => {
    const res = await fetch(`${t.gw.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    assert.equal(res.status, 401);
    const m = /resource_metadata="([^"]+)"/.exec(res.headers.get('www-authenticate') ?? '');
    assert.ok(m);
    const meta = await (await fetch(m[1]!)).json() as { resource: string };
    assert.equal(meta.resource, `${t.gw.url}/mcp`);
  });

  it('an ops caller sees the vault server through the same endpoint', async () => {
    const { secret } = await createApiKey(t.gw.store.apiKeys, { name: 'olga', kind: 'user', groups: ['ops'], expiresAt: null, createdBy: 'test' }, Date.now());
    const ops = await connect(t.gw.url, secret);
    try {
      const names = (await ops.client.listTools()).tools.map((x) => x.name).sort();
      assert.deepEqual(names, ['vault__ask_model', 'vault__echo', 'vault__run_sql']);
    } finally {
      await ops.client.close();
    }
  });
});
