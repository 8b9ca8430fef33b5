import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { policyYaml, toolText } from './fixture.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startLegacySseMcp, type LegacySseMcp } from './legacy-sse-server.ts';

const UPSTREAM_TOKEN = 'legacy-sse-token-' + 'k'.repeat(24);

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
content:
  rules:
    - id: pii-masked
      types: [EMAIL_ADDRESS]
      direction: both
      action: mask
mcp:
  defaults: { effect: deny }
  rules:
    - id: eng
      effect: allow
      subjects: { groups: [eng] }
      servers: [legacy]
    - id: no-delete
      effect: deny
      servers: [legacy]
      tools: ["delete_*"]
`;

const text = toolText;

describe('MCP front: an upstream on the legacy HTTP+SSE transport (2024-11-05; SDK SSEServerTransport)', () => {
  let t: TestGateway;
  let upstream: LegacySseMcp;
  let client: Client;

  before(async () => {
    upstream = await startLegacySseMcp({ token: UPSTREAM_TOKEN });
    process.env.PCL_TEST_LEGACY_TOKEN = UPSTREAM_TOKEN;
    t = await startTestGateway({
      extraYaml: `${policyYaml(POLICY)}mcp:
  servers:
    - name: legacy
      transport: sse
      url: ${upstream.url}
      credential: env:PCL_TEST_LEGACY_TOKEN
`,
    });
    client = new Client({ name: 'legacy-test-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/legacy`), { requestInit: { headers: { Authorization: `Bearer ${t.userKey}` } } }));
  });

  after(async () => {
    await client?.close();
    await t?.close();
    await upstream?.close();
  });

  it('the agent speaks Streamable HTTP, the gateway the SSE transport; only the gateway\'s credential reaches the server', async () => {
    assert.deepEqual((await client.listTools()).tools.map((x) => x.name).sort(), ['ask_model', 'echo'], 'the denied tool is not listed');
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'mail bob@example.com' } })), 'mail [EMAIL_ADDRESS]');
    assert.deepEqual(upstream.calls.at(-1), { tool: 'echo', args: { text: 'mail [EMAIL_ADDRESS]' } }, 'masked before the server saw it');
    assert.ok(upstream.requests.some((r) => r.method === 'GET') && upstream.requests.some((r) => r.method === 'POST'), 'the SSE stream and the message POSTs');
    assert.ok(upstream.requests.every((r) => r.authorization === `Bearer ${UPSTREAM_TOKEN}`), 'the gateway\'s credential on the stream and every POST, never the agent\'s');
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'echo', limit: 5 })).find((e) => e.status === 'completed'));
    assert.equal(row.provider, 'mcp:legacy');
    assert.equal((row.findings[0] as { type: string }).type, 'EMAIL_ADDRESS');
  });

  it('attack: a denied tool called by name is refused and never reaches the SSE server', async () => {
    const before = upstream.calls.length;
    await assert.rejects(client.callTool({ name: 'delete_repo', arguments: { name: 'prod' } }), /Policy does not allow the tool "delete_repo"/);
    assert.equal(upstream.calls.length, before);
  });

  it('attack: a sampling request from the SSE server is refused without an allowing rule; the agent\'s model is never asked', async () => {
    let sampled = 0;
    const agent = new Client({ name: 'sampling-agent', version: '1.0.0' }, { capabilities: { sampling: {} } });
    agent.setRequestHandler(CreateMessageRequestSchema, () => {
      sampled++;
      return { role: 'assistant', content: { type: 'text', text: 'leaked' }, model: 'm' };
    });
    await agent.connect(new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/legacy`), { requestInit: { headers: { Authorization: `Bearer ${t.userKey}` } } }));
    try {
      const r = await agent.callTool({ name: 'ask_model', arguments: { q: 'what is in the repo?' } });
      assert.match(text(r), /sampling refused: .*does not allow sampling\/createMessage/);
      assert.equal(sampled, 0);
    } finally {
      await agent.close();
    }
  });

  it('ending the agent\'s session closes the gateway\'s SSE connection to the server', async () => {
    const agent = new Client({ name: 'short-lived', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${t.gw.url}/mcp/legacy`), { requestInit: { headers: { Authorization: `Bearer ${t.userKey}` } } });
    await agent.connect(transport);
    const open = upstream.connections();
    await transport.terminateSession();
    await agent.close();
    await eventually(async () => (upstream.connections() < open ? true : undefined));
  });
});
