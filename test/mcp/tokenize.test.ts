import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createApiKey } from '../../src/identity/key-service.ts';
import { connectMcp, startMcpGateway, toolText } from './fixture.ts';
import { eventually, type TestGateway } from '../helpers/gateway.ts';
import type { UpstreamMcp } from './upstream-server.ts';

const TOKEN = 'tokenize-upstream-token-' + 'u'.repeat(20);

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
content:
  rules:
    - id: emails-tokenized
      types: [EMAIL_ADDRESS]
      direction: request
      action: tokenize
mcp:
  defaults: { effect: allow }
`;

const text = toolText;

const connect = async (base: string, key: string): Promise<Client> => (await connectMcp(`${base}/mcp/tools`, key, 'tokenize-agent')).client;

describe('MCP content: tokenize gives the server reversible placeholders and restores them for the agent', () => {
  let t: TestGateway;
  let upstream: UpstreamMcp;
  let client: Client;
  let close: () => Promise<void>;

  before(async () => {
    ({ t, upstream, close } = await startMcpGateway({ name: 'tools', policy: POLICY, token: TOKEN }));
    client = await connect(t.gw.url, t.userKey);
  });

  after(async () => {
    await client?.close();
    await close?.();
  });

  it('the server sees a placeholder, the agent gets the value back; the same value keeps its placeholder in the session', async () => {
    const r = await client.callTool({ name: 'echo', arguments: { text: 'write to bob@example.com' } });
    const seen = upstream.calls.at(-1)!.args.text as string;
    assert.match(seen, /^write to \u27e6EMAIL_ADDRESS_1\u27e7$/);
    assert.equal(text(r), 'write to bob@example.com', 'restored for the agent');
    await client.callTool({ name: 'run_sql', arguments: { sql: 'select 1', options: { nested: '{"to": "bob@example.com"}' } } });
    assert.ok(JSON.stringify(upstream.calls.at(-1)).includes('EMAIL_ADDRESS_1'), 'same value, same placeholder, also nested in JSON');
    assert.ok(!JSON.stringify(upstream.calls).includes('bob@example.com'), 'the server never saw the value');
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'echo', limit: 5 })).find((e) => e.status === 'completed'));
    assert.equal((row.findings[0] as { action: string }).action, 'tokenize');
  });

  it('attack: another caller sending the placeholder does not get the value restored', async () => {
    const { secret } = await createApiKey(t.gw.store.apiKeys, { name: 'eve', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now());
    const eve = await connect(t.gw.url, secret);
    try {
      const r = await eve.callTool({ name: 'echo', arguments: { text: 'who is \u27e6EMAIL_ADDRESS_1\u27e7?' } });
      assert.equal(text(r), 'who is \u27e6EMAIL_ADDRESS_1\u27e7?');
    } finally {
      await eve.close();
    }
  });
});
