import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createApiKey } from '../../src/identity/key-service.ts';
import { connectMcp, startMcpGateway, toolText } from './fixture.ts';
import { eventually, type TestGateway } from '../helpers/gateway.ts';
import type { UpstreamMcp } from './upstream-server.ts';

const TOKEN = 'tokenize-results-upstream-' + 'r'.repeat(20);
const EMAIL = 'carol.jones@example.com';
const PLACEHOLDER = '\u27e6MCP_EMAIL_ADDRESS_1\u27e7';

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
content:
  rules:
    - id: emails-in-results
      types: [EMAIL_ADDRESS]
      direction: response
      action: tokenize
mcp:
  defaults: { effect: allow }
`;

const connect = async (base: string, key: string): Promise<Client> => (await connectMcp(`${base}/mcp/crm`, key, 'tokenize-results-agent')).client;

describe('MCP content: tokenize in results hides values from the agent and restores them for the tool', () => {
  let t: TestGateway;
  let upstream: UpstreamMcp;
  let client: Client;
  let close: () => Promise<void>;

  before(async () => {
    ({ t, upstream, close } = await startMcpGateway({ name: 'crm', policy: POLICY, token: TOKEN, contacts: true }));
    client = await connect(t.gw.url, t.userKey);
  });

  after(async () => {
    await client?.close();
    await close?.();
  });

  it('the agent gets a placeholder for a value in a result (text and structured content); sent back, the tool gets the value', async () => {
    const found = await client.callTool({ name: 'find_contact', arguments: { name: 'Carol' } });
    assert.equal(toolText(found), `Carol: ${PLACEHOLDER}`);
    assert.deepEqual(found.structuredContent, { name: 'Carol', email: PLACEHOLDER }, 'same value, same placeholder');
    assert.ok(!JSON.stringify(found).includes(EMAIL), 'the agent never sees the value');

    const echoed = await client.callTool({ name: 'echo', arguments: { text: `write to ${PLACEHOLDER}` } });
    assert.equal(upstream.calls.at(-1)!.args.text, `write to ${EMAIL}`, 'restored before the call went upstream');
    assert.equal(toolText(echoed), `write to ${PLACEHOLDER}`, 'the echoed value is hidden again under the same placeholder');

    const rows = await eventually(async () => {
      const all = await t.gw.store.exchanges.list({ limit: 20 });
      const f = all.find((e) => e.model === 'find_contact' && e.status === 'completed');
      const e = all.find((x) => x.model === 'echo' && x.status === 'completed');
      return f && e ? { f, e } : undefined;
    });
    const tokenized = rows.f.responseFindings as { type: string; action: string; direction: string }[];
    assert.ok(tokenized.length >= 2 && tokenized.every((x) => x.type === 'EMAIL_ADDRESS' && x.action === 'tokenize' && x.direction === 'response'));
    const restored = rows.e.findings as { type: string; action: string; path: string }[];
    assert.deepEqual(restored.map((x) => [x.type, x.action, x.path]), [['EMAIL_ADDRESS', 'restore', 'params.arguments.text']]);
    assert.ok(!JSON.stringify([rows.f.findings, rows.f.responseFindings, rows.e.findings, rows.e.decision]).includes(EMAIL), 'types, never values');
  });

  it('a placeholder nested in JSON inside an argument string is restored and the JSON stays valid', async () => {
    await client.callTool({ name: 'find_contact', arguments: { name: 'Carol' } });
    await client.callTool({ name: 'run_sql', arguments: { sql: 'select 1', options: JSON.stringify({ to: [PLACEHOLDER], note: 'x"y' }) } });
    const options = upstream.calls.at(-1)!.args.options as string;
    assert.deepEqual(JSON.parse(options), { to: [EMAIL], note: 'x"y' });
  });

  it('attack: the placeholder sent by another identity is not restored; a new session of the same identity restores it (tokenize_scope: caller)', async () => {
    const { secret } = await createApiKey(t.gw.store.apiKeys, { name: 'mallory', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now());
    const mallory = await connect(t.gw.url, secret);
    const second = await connect(t.gw.url, t.userKey);
    try {
      const r = await mallory.callTool({ name: 'echo', arguments: { text: `who is ${PLACEHOLDER}?` } });
      assert.equal(upstream.calls.at(-1)!.args.text, `who is ${PLACEHOLDER}?`, 'the server gets the placeholder as text');
      assert.equal(toolText(r), `who is ${PLACEHOLDER}?`);
      assert.ok(!JSON.stringify(r).includes(EMAIL));
      // The agent re-initialized: the same identity and server, so the server gets back the value it gave.
      await second.callTool({ name: 'echo', arguments: { text: `who is ${PLACEHOLDER}?` } });
      assert.equal(upstream.calls.at(-1)!.args.text, `who is ${EMAIL}?`);
    } finally {
      await mallory.close();
      await second.close();
    }
  });
});
