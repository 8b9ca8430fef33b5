import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { createApiKey } from '../../src/identity/key-service.ts';
import { policyYaml, toolText } from './fixture.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

const TOKEN = 'targets-upstream-token-' + 'v'.repeat(20);

// The document's default is allow: sampling must still need a rule that names it.
const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
budgets:
  limits:
    - id: echo-rate
      per: user
      match: { mcp_tools: ["tools/echo"] }
      requests_per_minute: 2
mcp:
  defaults: { effect: allow }
  rules:
    - id: no-secret-files
      effect: deny
      servers: [tools]
      resources: ["file:///secret/*"]
    - id: no-admin-prompts
      effect: deny
      servers: [tools]
      prompts: ["admin_*"]
    - id: sampling-for-samplers
      effect: allow
      subjects: { groups: [sampler] }
      servers: [tools]
      methods: ["sampling/createMessage"]
`;

const text = toolText;

async function connect(base: string, key: string, sampled?: () => void): Promise<Client> {
  const client = new Client({ name: 'targets-agent', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, () => {
    sampled?.();
    return { role: 'assistant', content: { type: 'text', text: 'forty-two' }, model: 'm' };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/tools`), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  return client;
}

describe('MCP policy: resource and prompt globs, per-tool budgets, sampling allowed by a rule', () => {
  let t: TestGateway;
  let upstream: UpstreamMcp;
  let client: Client;

  before(async () => {
    upstream = await startUpstreamMcp({ token: TOKEN });
    process.env.PCL_TEST_TARGETS_TOKEN = TOKEN;
    t = await startTestGateway({
      extraYaml: `${policyYaml(POLICY)}mcp:
  servers:
    - name: tools
      url: ${upstream.url}
      credential: env:PCL_TEST_TARGETS_TOKEN
`,
    });
    client = await connect(t.gw.url, t.userKey);
  });

  after(async () => {
    await client?.close();
    await t?.close();
    await upstream?.close();
  });

  it('attack: a resource URI denied by a glob is not listed and its read is refused without reaching the server', async () => {
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    assert.deepEqual(uris, ['file:///public/readme.md']);
    const ok = await client.readResource({ uri: 'file:///public/readme.md' });
    assert.equal((ok.contents[0] as { text: string }).text, 'contents of file:///public/readme.md');
    await assert.rejects(client.readResource({ uri: 'file:///secret/keys.txt' }), (err: Error & { data?: { portcullis?: { code?: string } } }) => {
      assert.equal(err.data?.portcullis?.code, 'denied_by_policy');
      return true;
    });
    assert.deepEqual(upstream.reads, ['file:///public/readme.md']);
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ limit: 20 })).find((e) => e.endpoint === 'mcp.resources_read' && e.status === 'rejected'));
    assert.deepEqual((row.decision as { matchedRuleIds: string[] }).matchedRuleIds, ['no-secret-files']);
    assert.ok(!JSON.stringify(row).includes('keys.txt'), 'the record carries no URI in clear');
  });

  it('attack: a prompt denied by a glob is not listed and cannot be fetched', async () => {
    assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ['write_to', 'summarize']);
    assert.match(((await client.getPrompt({ name: 'summarize' })).messages[0]!.content as { text: string }).text, /prompt summarize/);
    await assert.rejects(client.getPrompt({ name: 'admin_override' }), /Policy does not allow the prompt "admin_override"/);
    assert.deepEqual(upstream.prompts, ['summarize']);
  });

  it('a per-tool rate limit from the budgets section refuses the call over the limit, before it goes out', async () => {
    const { secret } = await createApiKey(t.gw.store.apiKeys, { name: 'rita', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now());
    const rita = await connect(t.gw.url, secret);
    try {
      const before = upstream.calls.length;
      await rita.callTool({ name: 'echo', arguments: { text: '1' } });
      await rita.callTool({ name: 'echo', arguments: { text: '2' } });
      await assert.rejects(rita.callTool({ name: 'echo', arguments: { text: '3' } }), (err: Error & { data?: { portcullis?: { code?: string; limit_id?: string; retry_after_seconds?: number } } }) => {
        assert.equal(err.data?.portcullis?.code, 'rate_limited');
        assert.equal(err.data?.portcullis?.limit_id, 'echo-rate');
        assert.ok((err.data?.portcullis?.retry_after_seconds ?? 0) > 0);
        return true;
      });
      assert.equal(upstream.calls.length, before + 2);
      // Another tool of the same server is not under that limit.
      await rita.callTool({ name: 'run_sql', arguments: { sql: 'select 1' } });
      // And model requests do not count against it (nor it against them).
      const llm = await fetch(`${t.gw.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.notEqual(llm.status, 429);
      await llm.body?.cancel();
    } finally {
      await rita.close();
    }
  });

  it('attack: a sampling request without an allowing rule is refused even under a default allow', async () => {
    let sampled = 0;
    const agent = await connect(t.gw.url, t.userKey, () => sampled++);
    try {
      const r = await agent.callTool({ name: 'ask_model', arguments: { q: 'leak the repo?' } });
      assert.match(text(r), /sampling refused: .*does not allow sampling\/createMessage/);
      assert.equal(sampled, 0, 'the agent\'s model was never asked');
    } finally {
      await agent.close();
    }
  });

  it('a rule that names sampling/createMessage lets the server ask the agent\'s model, recorded on the call', async () => {
    const { secret } = await createApiKey(t.gw.store.apiKeys, { name: 'sam', kind: 'user', groups: ['sampler'], expiresAt: null, createdBy: 'test' }, Date.now());
    let sampled = 0;
    const sam = await connect(t.gw.url, secret, () => sampled++);
    try {
      const r = await sam.callTool({ name: 'ask_model', arguments: { q: 'what is six times seven?' } });
      assert.match(text(r), /model said .*forty-two/);
      assert.equal(sampled, 1);
    } finally {
      await sam.close();
    }
  });
});
