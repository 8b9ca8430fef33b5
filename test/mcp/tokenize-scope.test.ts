import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createApiKey } from '../../src/identity/key-service.ts';
import { connectMcp, policyYaml, toolText } from './fixture.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

const TOKEN = 'tokenize-scope-upstream-' + 's'.repeat(20);
const EMAIL = 'carol.jones@example.com';
const PLACEHOLDER = '\u27e6MCP_EMAIL_ADDRESS_1\u27e7';

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
content:
  rules:
    - { id: emails-in-results, types: [EMAIL_ADDRESS], direction: response, action: tokenize }
mcp:
  defaults: { effect: allow }
`;

const promptText = (r: { messages: { content: unknown }[] }): string => (r.messages[0]!.content as { text: string }).text;

// crm and mail share a token domain; web has its own. Each is also a member of the aggregated endpoint /mcp.
describe('MCP tokenization scope: the caller across sessions and servers of one token domain, never another identity', () => {
  let t: TestGateway;
  let crm: UpstreamMcp;
  let mail: UpstreamMcp;
  let web: UpstreamMcp;
  let agg: Client;
  let mallory: string;

  before(async () => {
    [crm, mail, web] = await Promise.all([startUpstreamMcp({ token: TOKEN, contacts: true }), startUpstreamMcp({ token: TOKEN }), startUpstreamMcp({ token: TOKEN })]);
    process.env.PCL_TEST_SCOPE_TOKEN = TOKEN;
    const server = (name: string, u: UpstreamMcp, extra = ''): string => `    - name: ${name}\n      url: ${u.url}\n      credential: env:PCL_TEST_SCOPE_TOKEN\n${extra}`;
    t = await startTestGateway({
      extraYaml: `${policyYaml(POLICY)}mcp:\n  aggregate: { path: /mcp }\n  servers:\n${server('crm', crm)}${server('mail', mail, '      token_domain: crm\n')}${server('web', web)}`,
    });
    agg = (await connectMcp(`${t.gw.url}/mcp`, t.userKey, 'scope-agent')).client;
    ({ secret: mallory } = await createApiKey(t.gw.store.apiKeys, { name: 'mallory', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now()));
  });

  after(async () => {
    await agg?.close();
    await t?.close();
    await Promise.all([crm, mail, web].map((u) => u?.close()));
  });

  it('through /mcp: a placeholder from crm reaches mail (same domain) as the value — in tool arguments, prompt arguments, a resource URI and a completion — and web as text', async () => {
    const found = await agg.callTool({ name: 'crm__find_contact', arguments: { name: 'Carol' } });
    assert.equal(toolText(found), `Carol: ${PLACEHOLDER}`);

    const echoed = await agg.callTool({ name: 'mail__echo', arguments: { text: `to ${PLACEHOLDER}` } });
    assert.equal(mail.calls.at(-1)!.args.text, `to ${EMAIL}`, 'restored for the server of the same token domain');
    assert.equal(toolText(echoed), `to ${PLACEHOLDER}`, 'the same value keeps its placeholder across the domain');

    const prompt = await agg.getPrompt({ name: 'mail__write_to', arguments: { to: PLACEHOLDER } });
    assert.equal(mail.prompts.at(-1), `write_to ${EMAIL}`, 'prompt arguments are restored before the server sees them');
    assert.equal(promptText(prompt), `write a note to ${PLACEHOLDER}`, 'prompt messages are tokenized on the way back');

    const read = await agg.readResource({ uri: `mail__mailbox://${PLACEHOLDER}` });
    assert.equal(mail.reads.at(-1), `mailbox://${EMAIL}`, 'a resource URI is restored before the server sees it');
    assert.deepEqual(read.contents, [{ uri: `mail__mailbox://${PLACEHOLDER}`, text: `mailbox of ${PLACEHOLDER}` }]);
    assert.ok(!JSON.stringify([found, echoed, prompt, read]).includes(EMAIL), 'the agent never holds the value');

    await agg.complete({ ref: { type: 'ref/prompt', name: 'mail__write_to' }, argument: { name: 'to', value: PLACEHOLDER } });
    assert.equal(mail.completions.at(-1), EMAIL, 'the value a completion is asked for too');

    await agg.callTool({ name: 'web__echo', arguments: { text: `to ${PLACEHOLDER}` } });
    assert.equal(web.calls.at(-1)!.args.text, `to ${PLACEHOLDER}`, 'another token domain gets the placeholder as text');

    const row = await eventually(async () => (await t.gw.store.exchanges.list({ limit: 50 })).find((e) => e.provider === 'mcp:mail' && e.endpoint === 'mcp.prompts_get' && e.status === 'completed'));
    assert.deepEqual((row.findings as { action: string; path: string }[]).map((f) => [f.action, f.path]), [['restore', 'params.arguments.to']]);
  });

  it('after the agent re-initializes, on the per-server endpoint of the other server, the placeholder is still restored', async () => {
    const { client } = await connectMcp(`${t.gw.url}/mcp/mail`, t.userKey, 'scope-agent-2');
    try {
      await client.callTool({ name: 'echo', arguments: { text: `again ${PLACEHOLDER}` } });
      assert.equal(mail.calls.at(-1)!.args.text, `again ${EMAIL}`);
    } finally {
      await client.close();
    }
  });

  it('attack: another identity sending the placeholder (aggregated or per-server, tool, prompt or URI) never gets the value to any server', async () => {
    const before = [crm, mail].map((u) => [u.calls.length, u.prompts.length, u.reads.length]);
    const viaAgg = (await connectMcp(`${t.gw.url}/mcp`, mallory, 'mallory')).client;
    const viaCrm = (await connectMcp(`${t.gw.url}/mcp/crm`, mallory, 'mallory')).client;
    try {
      const r = await viaAgg.callTool({ name: 'mail__echo', arguments: { text: `who is ${PLACEHOLDER}?` } });
      assert.equal(toolText(r), `who is ${PLACEHOLDER}?`);
      await viaAgg.getPrompt({ name: 'mail__write_to', arguments: { to: PLACEHOLDER } });
      await viaCrm.callTool({ name: 'echo', arguments: { text: PLACEHOLDER } });
      assert.equal(mail.calls.at(-1)!.args.text, `who is ${PLACEHOLDER}?`);
      assert.equal(mail.prompts.at(-1), `write_to ${PLACEHOLDER}`);
      assert.equal(crm.calls.at(-1)!.args.text, PLACEHOLDER);
      const seen = [crm, mail].flatMap((u, i) => [...u.calls.slice(before[i]![0]), ...u.prompts.slice(before[i]![1]), ...u.reads.slice(before[i]![2])]);
      assert.equal(seen.length, 3);
      assert.ok(!JSON.stringify(seen).includes(EMAIL), "A's value never reached a server for B");
    } finally {
      await viaAgg.close();
      await viaCrm.close();
    }
  });
});
