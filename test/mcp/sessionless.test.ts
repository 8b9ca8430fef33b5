import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client as V2Client, ProtocolError, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { createApiKey } from '../../src/identity/key-service.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectMcp, policyYaml, toolText } from './fixture.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';
import { startV2Upstream, type V2Upstream } from './v2-server.ts';

const V1_TOKEN = 'sessionless-v1-upstream-' + 'a'.repeat(20);
const V2_TOKEN = 'sessionless-v2-upstream-' + 'b'.repeat(20);

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
content:
  rules:
    - { id: emails-from-tools, types: [EMAIL_ADDRESS], direction: response, action: tokenize }
mcp:
  defaults: { effect: deny }
  rules:
    - { id: eng-tools, effect: allow, subjects: { groups: [eng] }, servers: [v1, v2] }
    - { id: no-delete, effect: deny, servers: ["*"], tools: ["delete_*"] }
    - { id: bob-sampling, effect: allow, subjects: { users: ["user:bob"] }, servers: [v2], methods: ["sampling/createMessage"] }
    - id: held-drops
      effect: require_approval
      servers: [v1, v2]
      tools: [echo]
      when: 'request.argument_text.matches("(?i)\\\\bdrop\\\\b")'
      approval: { approver_groups: [dba] }
`;

interface RpcError { jsonrpc: string; id: unknown; error: { code: number; message: string; data?: { supported?: string[]; requested?: string; portcullis?: { code: string } } } }

/** A v2 SDK client that negotiates as shipped clients do when they probe first (`versionNegotiation: auto`). */
async function connectV2(url: string, key: string, onSampling?: () => void): Promise<{ client: V2Client; transport: V2Transport }> {
  const client = new V2Client({ name: 'v2-agent', version: '1.0.0' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: 'auto' } });
  client.setRequestHandler('sampling/createMessage', async () => {
    onSampling?.();
    return { role: 'assistant', content: { type: 'text', text: 'forty-two' }, model: 'm' };
  });
  const transport = new V2Transport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
  await client.connect(transport);
  return { client, transport };
}

const envelope = (version: string): Record<string, unknown> => ({
  'io.modelcontextprotocol/protocolVersion': version, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {},
});

describe('MCP 2026-07-28 (sessionless) at /mcp/<server>: v2 and v1 SDK clients and servers through the gateway', () => {
  let t: TestGateway;
  let v1: UpstreamMcp;
  let v2: V2Upstream;
  let bobKey = '';
  let dbaKey = '';

  before(async () => {
    v1 = await startUpstreamMcp({ token: V1_TOKEN, contacts: true });
    v2 = await startV2Upstream({ token: V2_TOKEN });
    process.env.PCL_TEST_SESSIONLESS_V1 = V1_TOKEN;
    process.env.PCL_TEST_SESSIONLESS_V2 = V2_TOKEN;
    t = await startTestGateway({
      extraYaml: `${policyYaml(POLICY)}mcp:
  aggregate: { path: /mcp, servers: ["*"] }
  servers:
    - { name: v1, url: ${v1.url}, credential: env:PCL_TEST_SESSIONLESS_V1 }
    - { name: v2, url: ${v2.url}, credential: env:PCL_TEST_SESSIONLESS_V2 }
`,
    });
    dbaKey = (await createApiKey(t.gw.store.apiKeys, { name: 'dba', kind: 'user', groups: ['dba'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    bobKey = (await createApiKey(t.gw.store.apiKeys, { name: 'bob', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
  });

  after(async () => {
    await t?.close();
    await v1?.close();
    await v2?.close();
  });

  const post = (server: string, body: unknown, headers: Record<string, string> = {}, key = t.userKey): Promise<Response> => fetch(`${t.gw.url}/mcp/${server}`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
  });

  it('v2 client → gateway → v2 server: negotiated sessionless, tools/list filtered, calls governed, no session anywhere', async () => {
    const before = v2.requests.length;
    const { client, transport } = await connectV2(`${t.gw.url}/mcp/v2`, t.userKey);
    try {
      assert.equal(transport.protocolVersion, '2026-07-28');
      assert.equal(transport.sessionId, undefined);
      const tools = (await client.listTools()).tools.map((x) => x.name);
      assert.ok(tools.includes('echo'));
      assert.ok(!tools.includes('delete_repo'), 'a denied tool does not leak through tools/list');
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'hello v2' } })), 'hello v2');
      assert.deepEqual(v2.calls.at(-1), { tool: 'echo', args: { text: 'hello v2' } });
      const seen = v2.requests.slice(before);
      assert.ok(seen.length >= 2);
      for (const r of seen) {
        assert.equal(r.headers['mcp-session-id'], undefined);
        assert.equal(r.headers.authorization, `Bearer ${V2_TOKEN}`, "the gateway's credential upstream, never the agent's");
      }
      const call = seen.find((r) => r.headers['mcp-method'] === 'tools/call');
      assert.equal(call?.headers['mcp-name'], 'echo');
      assert.equal(call?.headers['mcp-protocol-version'], '2026-07-28');
      const rows = await t.gw.store.exchanges.list({ model: 'echo', limit: 20 });
      assert.ok(rows.some((e) => e.provider === 'mcp:v2' && e.endpoint === 'mcp.tools_call'));
    } finally {
      await client.close();
    }
  });

  it('v2 client → gateway → v1 (2025-11-25) server: the gateway holds the session and translates', async () => {
    const { client, transport } = await connectV2(`${t.gw.url}/mcp/v1`, t.userKey);
    try {
      assert.equal(transport.protocolVersion, '2026-07-28');
      const tools = (await client.listTools()).tools.map((x) => x.name);
      assert.ok(tools.includes('echo') && tools.includes('find_contact'));
      assert.ok(!tools.includes('delete_repo'));
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'hello v1' } })), 'hello v1');
      assert.deepEqual(v1.calls.at(-1), { tool: 'echo', args: { text: 'hello v1' } });
      assert.equal(transport.sessionId, undefined, 'the gateway-held session is never shown to the caller');
    } finally {
      await client.close();
    }
  });

  it('v1 client → gateway → v2 server (served 2025-era by the v2 SDK)', async () => {
    const { client } = await connectMcp(`${t.gw.url}/mcp/v2`, t.userKey, 'v1-agent');
    try {
      const tools = (await client.listTools()).tools.map((x) => x.name);
      assert.ok(tools.includes('echo') && !tools.includes('delete_repo'));
      assert.equal(toolText(await client.callTool({ name: 'echo', arguments: { text: 'v1 to v2' } })), 'v1 to v2');
      assert.deepEqual(v2.calls.at(-1), { tool: 'echo', args: { text: 'v1 to v2' } });
    } finally {
      await client.close();
    }
  });

  it('Mcp-Param-* headers go upstream derived from the forwarded arguments; a forged one from the client is not passed on', async () => {
    const { client } = await connectV2(`${t.gw.url}/mcp/v2`, t.userKey);
    try {
      await client.listTools();
      assert.equal(toolText(await client.callTool({ name: 'in_region', arguments: { region: 'eu-west', text: 'job' } })), 'job in eu-west');
    } finally {
      await client.close();
    }
    const before = v2.requests.length;
    const res = await post('v2', { jsonrpc: '2.0', id: 11, method: 'tools/call', params: { name: 'in_region', arguments: { region: 'eu-west', text: 'forged' }, _meta: envelope('2026-07-28') } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'in_region', 'mcp-param-region': 'us-east' });
    assert.equal(res.status, 200);
    await res.text();
    const sent = v2.requests.slice(before).find((r) => r.headers['mcp-name'] === 'in_region');
    assert.equal(sent?.headers['mcp-param-region'], 'eu-west');
    assert.deepEqual(v2.calls.at(-1), { tool: 'in_region', args: { region: 'eu-west', text: 'forged' } });
  });

  for (const server of ['v1', 'v2'] as const) {
    it(`attack (${server}): a denied tool called by name is refused and never forwarded`, async () => {
      const { client } = await connectV2(`${t.gw.url}/mcp/${server}`, t.userKey);
      try {
        await assert.rejects(client.callTool({ name: 'delete_repo', arguments: { name: 'prod' } }), (err: unknown) => {
          assert.ok(err instanceof ProtocolError);
          assert.equal(err.code, -32001);
          return true;
        });
        const calls = server === 'v1' ? v1.calls : v2.calls;
        assert.ok(!calls.some((c) => c.tool === 'delete_repo'));
        // Recorded like a session-based refusal: the caller, the rule, no session.
        const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'delete_repo', limit: 20 })).find((e) => e.provider === `mcp:${server}`), 30_000);
        assert.equal(row.errorCode, 'denied_by_policy');
        assert.equal(row.subject, 'user:alice');
        assert.ok((row.decision as { matchedRuleIds: string[] }).matchedRuleIds.includes('no-delete'));
      } finally {
        await client.close();
      }
    });
  }

  it("attack: a placeholder is restored for the identity it was minted for, never for another identity", async () => {
    const alice = await connectV2(`${t.gw.url}/mcp/v1`, t.userKey);
    const bob = await connectV2(`${t.gw.url}/mcp/v1`, bobKey);
    try {
      const found = toolText(await alice.client.callTool({ name: 'find_contact', arguments: { name: 'Carol' } }));
      assert.doesNotMatch(found, /carol\.jones@example\.com/);
      const placeholder = /⟦MCP_EMAIL_ADDRESS_\d+⟧/.exec(found)?.[0];
      assert.ok(placeholder, found);
      await bob.client.callTool({ name: 'echo', arguments: { text: `mail ${placeholder}` } });
      assert.deepEqual(v1.calls.at(-1), { tool: 'echo', args: { text: `mail ${placeholder}` } }, "bob's copy goes on as plain text");
      // A later sessionless request of the same caller and server restores it (scope: caller + server).
      await alice.client.callTool({ name: 'echo', arguments: { text: `mail ${placeholder}` } });
      assert.deepEqual(v1.calls.at(-1), { tool: 'echo', args: { text: 'mail carol.jones@example.com' } });
    } finally {
      await alice.client.close();
      await bob.client.close();
    }
  });

  for (const server of ['v1', 'v2'] as const) {
    it(`a held call (${server}) keeps the sessionless request alive with progress and runs exactly as approved`, async () => {
      const { client } = await connectV2(`${t.gw.url}/mcp/${server}`, t.userKey);
      const calls = server === 'v1' ? v1.calls : v2.calls;
      try {
        let progress = 0;
        const call = client.callTool({ name: 'echo', arguments: { text: `drop table ${server}` } }, { onprogress: () => void progress++, resetTimeoutOnProgress: true, timeout: 120_000 });
        const pending = await eventually(async () => {
          const r = await fetch(`${t.gw.url}/admin/v1/approvals?state=pending`, { headers: { authorization: `Bearer ${dbaKey}` } });
          return (await r.json() as { data: { id: string }[] }).data[0];
        }, 30_000);
        assert.ok(!calls.some((c) => c.args.text === `drop table ${server}`), 'nothing ran while held');
        const ok = await fetch(`${t.gw.url}/admin/v1/approvals/${pending.id}/approve`, {
          method: 'POST', headers: { authorization: `Bearer ${dbaKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'ticket 7' }),
        });
        assert.equal(ok.status, 200);
        assert.equal(toolText(await call), `drop table ${server}`);
        assert.ok(progress >= 1, 'progress notifications reached the client while held');
        assert.deepEqual(calls.at(-1), { tool: 'echo', args: { text: `drop table ${server}` } });
      } finally {
        await client.close();
      }
    });
  }

  it('a request claiming an unsupported revision gets -32022 naming the supported ones; a header that does not mirror the body gets -32020', async () => {
    const before = v2.requests.length;
    let res = await post('v2', { jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: envelope('2027-01-01') } }, { 'mcp-protocol-version': '2027-01-01', 'mcp-method': 'tools/list' });
    assert.equal(res.status, 400);
    let body = await res.json() as RpcError;
    assert.equal(body.id, 7);
    assert.equal(body.error.code, -32022);
    assert.ok(body.error.data?.supported?.includes('2026-07-28') && body.error.data.supported.includes('2025-11-25'));
    assert.equal(body.error.data?.requested, '2027-01-01');
    res = await post('v2', { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'delete_repo', arguments: { name: 'x' }, _meta: envelope('2026-07-28') } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
    assert.equal(res.status, 400);
    body = await res.json() as RpcError;
    assert.equal(body.error.code, -32020);
    res = await post('v2', { jsonrpc: '2.0', id: 9, method: 'tools/list', params: { _meta: envelope('2026-07-28') } }, { 'mcp-protocol-version': '2025-11-25', 'mcp-method': 'tools/list' });
    assert.equal((await res.json() as RpcError).error.code, -32020);
    assert.equal(v2.requests.length, before, 'nothing reached the server');
  });

  it('JSON-RPC batches are refused under 2026-07-28', async () => {
    const res = await post('v2', [{ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'batched' }, _meta: envelope('2026-07-28') } }], { 'mcp-protocol-version': '2026-07-28' });
    assert.equal(res.status, 400);
    const body = await res.json() as RpcError;
    assert.equal(body.error.code, -32600);
    assert.match(body.error.message, /not allowed in MCP revision 2026-07-28/);
    assert.ok(!v2.calls.some((c) => c.args.text === 'batched'));
  });

  it("a server's input_required sampling request is refused by default: the agent's model is never asked", async () => {
    let sampled = 0;
    const { client } = await connectV2(`${t.gw.url}/mcp/v2`, t.userKey, () => sampled++);
    try {
      await assert.rejects(client.callTool({ name: 'ask_model', arguments: { q: 'meaning?' } }), (err: unknown) => {
        assert.ok(err instanceof ProtocolError);
        assert.match(err.message, /does not allow sampling\/createMessage/);
        return true;
      });
      assert.equal(sampled, 0);
    } finally {
      await client.close();
    }
    // A 2025-era server asks in the gateway's session, which declares no sampling: the tool gets no model either.
    const legacy = await connectV2(`${t.gw.url}/mcp/v1`, t.userKey, () => sampled++);
    try {
      const r = await legacy.client.callTool({ name: 'ask_model', arguments: { q: 'meaning?' } });
      assert.equal(r.isError, true);
      assert.match(toolText(r), /sampling refused/);
      assert.equal(sampled, 0);
    } finally {
      await legacy.client.close();
    }
  });

  it('an input_required sampling request an allow rule names reaches the agent, and its answer completes the call', async () => {
    let sampled = 0;
    const { client } = await connectV2(`${t.gw.url}/mcp/v2`, bobKey, () => sampled++);
    try {
      assert.equal(toolText(await client.callTool({ name: 'ask_model', arguments: { q: 'meaning?' } })), 'model said forty-two');
      assert.equal(sampled, 1);
      assert.equal(v2.calls.filter((c) => c.tool === 'ask_model').length >= 2, true, 'the call was made again with inputResponses');
    } finally {
      await client.close();
    }
  });

  /** Listens through the gateway for tools list changes and triggers them until one arrives; returns the honored filter. */
  async function listenForToolChanges(server: 'v1' | 'v2', filter: Record<string, unknown>, change: () => void): Promise<unknown> {
    const { client } = await connectV2(`${t.gw.url}/mcp/${server}`, t.userKey);
    let changed = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    try {
      await client.listTools();
      const sub = await client.listen(filter);
      await eventually(async () => {
        change();
        await new Promise((r) => setTimeout(r, 100));
        return changed > 0 ? true : undefined;
      }, 30_000);
      await sub.close();
      return sub.honoredFilter;
    } finally {
      await client.close();
    }
  }

  it('subscriptions/listen to a 2026-07-28 server: list-change notifications reach the caller', async () => {
    const honored = await listenForToolChanges('v2', { toolsListChanged: true }, () => v2.toolsChanged());
    assert.equal((honored as { toolsListChanged?: boolean }).toolsListChanged, true);
  });

  it('subscriptions/listen to a 2025-era server: the gateway listens on its session and passes on the list changes asked for', async () => {
    let n = 0;
    // A changed description: the SDK sends notifications/tools/list_changed into every session.
    const honored = await listenForToolChanges('v1', { toolsListChanged: true, resourceSubscriptions: ['file:///public/readme.md'] }, () => v1.setDescription('run_sql', `Runs SQL (${n++}).`));
    assert.deepEqual(honored, { toolsListChanged: true }, 'resource subscriptions are not honored through the gateway');
  });

  it('GET and DELETE under 2026-07-28 get 405; a session id on a sessionless request is refused', async () => {
    const get = await fetch(`${t.gw.url}/mcp/v2`, { headers: { authorization: `Bearer ${t.userKey}`, accept: 'text/event-stream', 'mcp-protocol-version': '2026-07-28' } });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const { client, transport } = await connectMcp(`${t.gw.url}/mcp/v1`, t.userKey, 'v1-agent');
    try {
      const res = await post('v1', { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: envelope('2026-07-28') } },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list', 'mcp-session-id': transport.sessionId! });
      assert.equal(res.status, 400);
      assert.match((await res.json() as RpcError).error.message, /no sessions/);
    } finally {
      await client.close();
    }
  });

  it('the aggregated endpoint answers 2026-07-28 with -32022 naming its revisions; a v2 client falls back to initialize there', async () => {
    const res = await fetch(`${t.gw.url}/mcp`, {
      method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 'p', method: 'server/discover', params: { _meta: envelope('2026-07-28') } }),
      headers: { authorization: `Bearer ${t.userKey}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
    });
    assert.equal(res.status, 400);
    const body = await res.json() as RpcError;
    assert.equal(body.error.code, -32022);
    assert.ok(!body.error.data?.supported?.includes('2026-07-28'));
    const { client, transport } = await connectV2(`${t.gw.url}/mcp`, t.userKey);
    try {
      assert.equal(transport.protocolVersion, '2025-11-25');
      const tools = (await client.listTools()).tools.map((x) => x.name);
      assert.ok(tools.includes('v2__echo') && tools.includes('v1__echo') && !tools.some((n) => n.endsWith('delete_repo')));
    } finally {
      await client.close();
    }
  });
});
