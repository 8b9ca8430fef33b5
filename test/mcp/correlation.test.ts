import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { createApiKey } from '../../src/identity/key-service.ts';
import type { ExchangeRow } from '../../src/store/ports.ts';
import { launchChromium } from '../console/browser.ts';
import { connectMcp, policyYaml, toolText } from './fixture.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

/**
 * Issue #14 item 7, last sentence: a model's answer with a tool call, then the agent's MCP `tools/call` of that
 * tool with the same arguments, by the same identity → the MCP exchange records `correlation: {exchange_id,
 * tool_call_id}` of the model exchange (in its decision, its views and its SIEM event). Real SDK clients: openai
 * (chat, JSON; Responses, streamed), @anthropic-ai/sdk (Messages, streamed, Claude Code's `mcp__<server>__<tool>`
 * name), @modelcontextprotocol/sdk for the MCP calls. Not linked: other arguments, and — the attack — another
 * identity repeating A's call with A's arguments. On PostgreSQL the model calls go through one replica and the MCP
 * calls through another (the index is in the store, not in a process).
 */
const TOKEN = 'correlation-upstream-token-' + 'k'.repeat(16);
const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
mcp:
  defaults: { effect: deny }
  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [dev] }
    - { id: no-rome, effect: deny, servers: [dev], tools: [get_weather], when: 'request.argument_text.contains("Rome")' }
`;
const WEATHER = { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } } };

interface Fleet {
  /** Where the agent asks the model. */
  model: TestGateway;
  /** Where it makes the MCP calls (the same gateway on SQLite, another replica on PostgreSQL). */
  tools: TestGateway;
  close(): Promise<void>;
}

function scenario(engine: string, open: (extraYaml: string) => Promise<Fleet>): void {
  describe(`a model's tool call is linked to the MCP call that carries it out (${engine})`, () => {
    let f: Fleet;
    let upstream: UpstreamMcp;
    let bobKey: string;

    before(async () => {
      upstream = await startUpstreamMcp({ token: TOKEN, weather: true });
      process.env.PCL_TEST_CORR_TOKEN = TOKEN;
      f = await open(`${policyYaml(POLICY)}mcp:\n  servers:\n    - { name: dev, url: "${upstream.url}", credential: "env:PCL_TEST_CORR_TOKEN" }\n`);
      bobKey = (await createApiKey(f.model.gw.store.apiKeys, { name: 'bob', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    });
    after(async () => {
      await f?.close();
      await upstream?.close();
    });

    /** One MCP tools/call through the tools replica as `key`; the recorded MCP exchange. */
    const mcpCall = async (key: string, args: Record<string, unknown>): Promise<{ text: string; row: ExchangeRow }> => {
      const calls = async (): Promise<ExchangeRow[]> => (await f.tools.gw.store.exchanges.list({ model: 'get_weather', limit: 100 })).filter((e) => e.endpoint === 'mcp.tools_call');
      const seen = new Set((await calls()).map((e) => e.id));
      const { client } = await connectMcp(`${f.tools.gw.url}/mcp/dev`, key, 'agent');
      try {
        const r = await client.callTool({ name: 'get_weather', arguments: args }).then(toolText, (err: unknown) => String(err));
        // A refusal is answered first and recorded right after: wait for the new record.
        const row = await eventually(async () => (await calls()).find((e) => !seen.has(e.id) && e.status !== 'in_progress'));
        return { text: r, row };
      } finally {
        await client.close();
      }
    };
    const linkOf = (row: ExchangeRow): unknown => (row.decision as { correlation?: unknown }).correlation;

    it('chat (JSON answer): the MCP call with the same arguments by the same identity is linked', async () => {
      const openai = new OpenAI({ apiKey: f.model.userKey, baseURL: f.model.openaiBase });
      const { data, response } = await openai.chat.completions.create({
        model: 'gpt-4o', messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER } }],
      }).withResponse();
      const call = data.choices[0]!.message.tool_calls![0]!;
      assert.equal(call.type === 'function' && call.function.name, 'get_weather');
      const modelExchange = response.headers.get('x-portcullis-exchange-id')!;
      // The agent runs the call with the arguments the model gave (key order is not significant).
      const args = JSON.parse(call.type === 'function' ? call.function.arguments : '{}') as Record<string, unknown>;
      const { text, row } = await mcpCall(f.model.userKey, { unit: args.unit, city: args.city });
      assert.equal(text, 'sunny in Paris');
      assert.deepEqual(linkOf(row), { exchange_id: modelExchange, tool_call_id: call.id });
    });

    it('the attack: another identity repeating that call with the same arguments is not linked to it', async () => {
      const { text, row } = await mcpCall(bobKey, { city: 'Paris', unit: 'celsius' });
      assert.equal(text, 'sunny in Paris', 'the call itself is allowed: only the link is refused');
      assert.equal(row.subject, 'user:bob');
      assert.equal(linkOf(row), undefined);
    });

    it('other arguments are not linked', async () => {
      const { row } = await mcpCall(f.model.userKey, { city: 'Paris', unit: 'fahrenheit' });
      assert.equal(linkOf(row), undefined);
    });

    it('Responses (streamed function_call): linked, and the link shows in the admin API view and the CLI view data', async () => {
      const openai = new OpenAI({ apiKey: f.model.userKey, baseURL: f.model.openaiBase });
      const stream = await openai.responses.create({
        model: 'gpt-4o', input: 'What is the weather in Paris?', stream: true,
        tools: [{ type: 'function', name: 'get_weather', parameters: WEATHER, strict: false }],
      }).withResponse();
      let callId: string | undefined;
      for await (const e of stream.data) if (e.type === 'response.output_item.done' && e.item.type === 'function_call') callId = e.item.call_id;
      assert.ok(callId, 'the model answered with a function call');
      const modelExchange = stream.response.headers.get('x-portcullis-exchange-id')!;
      const { row } = await mcpCall(f.model.userKey, { city: 'Paris' });
      assert.deepEqual(linkOf(row), { exchange_id: modelExchange, tool_call_id: callId });
      const view = await fetch(`${f.model.gw.url}/admin/v1/exchanges/${row.id}`, { headers: { authorization: `Bearer ${f.model.adminKey}` } });
      assert.equal(view.status, 200);
      const body = await view.json() as { correlation: unknown; decision: { correlation: unknown } };
      assert.deepEqual(body.correlation, { exchange_id: modelExchange, tool_call_id: callId });
      // The console's exchange page names the tool call and links the model exchange (real Chromium).
      const browser = await launchChromium();
      try {
        const p = await browser.newPage();
        await p.goto(`${f.model.gw.url}/console/#/exchanges/${row.id}`);
        await p.fill('#token', f.model.adminKey);
        await p.click('button[type=submit]');
        await p.waitForSelector('#correlation');
        assert.match(await p.textContent('#correlation') ?? '', new RegExp(`Carries out tool call ${callId} of the model answer ${modelExchange}`));
        assert.equal(await p.getAttribute('#correlation a', 'href'), `#/exchanges/${modelExchange}`);
      } finally {
        await browser.close();
      }
    });

    it('Anthropic (streamed tool_use, Claude Code\'s mcp__<server>__<tool> name): linked, also when the policy refuses the call', async () => {
      const anthropic = new Anthropic({ apiKey: f.model.userKey, baseURL: f.model.anthropicBase });
      const msg = await anthropic.messages.stream({
        model: 'claude-opus-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'What is the weather in Rome?' }],
        tools: [{ name: 'mcp__dev__get_weather', input_schema: { type: 'object', properties: WEATHER.properties } }],
      }).finalMessage();
      const use = msg.content.find((b) => b.type === 'tool_use');
      assert.ok(use && use.type === 'tool_use');
      const model = await eventually(async () => (await f.model.gw.store.exchanges.list({ limit: 50 })).find((e) => e.endpoint === 'anthropic.messages' && e.status === 'completed'));
      const { text, row } = await mcpCall(f.model.userKey, use.input as Record<string, unknown>);
      assert.match(text, /denied|policy/i);
      assert.equal(row.status, 'rejected');
      assert.deepEqual((row.decision as { matchedRuleIds: string[] }).matchedRuleIds, ['no-rome']);
      assert.deepEqual(linkOf(row), { exchange_id: model.id, tool_call_id: use.id }, 'the record shows what the model asked for, and that it was refused');
    });
  });
}

scenario('SQLite, one gateway', async (extraYaml) => {
  const t = await startTestGateway({ extraYaml });
  return { model: t, tools: t, close: () => t.close() };
});

scenario('PostgreSQL, model and MCP calls on two replicas', async (extraYaml) => {
  const pg: TestPostgres = await startTestPostgres();
  const masterKey = randomBytes(32).toString('base64');
  const a = await startTestGateway({ extraYaml, storeUrl: pg.url, masterKey });
  const b = await startTestGateway({ extraYaml, storeUrl: pg.url, masterKey });
  return {
    model: a, tools: b,
    close: async () => {
      await b.close();
      await a.close();
      await pg.stop();
    },
  };
});
