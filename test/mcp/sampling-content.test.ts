import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { exchangeDetail } from '../../src/audit/exchange-view.ts';
import { AGENT_SERVER_CONTENT, startMcpGateway, toolText } from './fixture.ts';
import { fakeCredential } from '../helpers/fake-credentials.ts';
import { eventually, type TestGateway } from '../helpers/gateway.ts';
import type { UpstreamMcp } from './upstream-server.ts';

const TOKEN = 'sampling-content-upstream-' + 'm'.repeat(20);
const EMAIL = 'carol.jones@example.com';
const PLACEHOLDER = '\u27e6MCP_EMAIL_ADDRESS_1\u27e7';

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
${AGENT_SERVER_CONTENT}mcp:
  defaults: { effect: allow }
  rules:
    - { id: sampling, effect: allow, servers: [tools], methods: ["sampling/createMessage", "elicitation/create"] }
`;

interface Sampling {
  /** Every message text the agent's model was asked. */
  asked: string[];
  /** What the agent's model answers to a question. */
  answer: (question: string) => string;
  /** What the agent's user types into an elicitation form. */
  input?: string;
}

async function samplingAgent(url: string, key: string, s: Sampling): Promise<Client> {
  const client = new Client({ name: 'sampling-agent', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, (req) => {
    s.asked.push(req.params.message);
    return { action: 'accept', content: { answer: s.input ?? '' } };
  });
  client.setRequestHandler(CreateMessageRequestSchema, (req) => {
    const q = (req.params.messages[0]!.content as { text: string }).text;
    s.asked.push(q);
    return { role: 'assistant', content: { type: 'text', text: s.answer(q) }, model: 'agent-model' };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  return client;
}

describe('MCP sampling content: the request is scanned towards the agent, the agent\'s answer towards the server', () => {
  let t: TestGateway;
  let upstream: UpstreamMcp;
  let close: () => Promise<void>;
  let agent: Client;
  const s: Sampling = { asked: [], answer: (q) => q };

  before(async () => {
    ({ t, upstream, close } = await startMcpGateway({ name: 'tools', policy: POLICY, token: TOKEN, elicit: true }));
    agent = await samplingAgent(`${t.gw.url}/mcp/tools`, t.userKey, s);
  });

  after(async () => {
    await agent?.close();
    await close?.();
  });

  it('a value in the sampling request reaches the agent\'s model as a placeholder; the model\'s answer restores it for the server', async () => {
    s.answer = (q) => `ok: ${q}`;
    const r = await agent.callTool({ name: 'ask_model', arguments: { q: `write to ${EMAIL}` } });
    assert.equal(s.asked.at(-1), `write to ${PLACEHOLDER}`, 'the model never sees the value');
    assert.deepEqual(upstream.sampled.at(-1), { type: 'text', text: `ok: write to ${EMAIL}` }, 'the server gets its own value back');
    assert.ok(!JSON.stringify(r).includes(EMAIL), 'the tool result is tokenized too');
  });

  it('a card in the model\'s answer is masked before the server sees it, and the answer is recorded on the call', async () => {
    s.answer = () => 'pay with 4111 1111 1111 1111';
    const r = await agent.callTool({ name: 'ask_model', arguments: { q: 'how do I pay?' } });
    assert.doesNotMatch(toolText(r), /sampling refused/);
    const got = JSON.stringify(upstream.sampled.at(-1));
    assert.match(got, /pay with/);
    assert.ok(!got.includes('4111 1111 1111 1111'), `masked: ${got}`);
    // The answer is an event of the tool call that carried the sampling request.
    const answer = await eventually(async () => {
      for (const row of await t.gw.store.exchanges.list({ model: 'ask_model', limit: 10 })) {
        const d = await exchangeDetail(t.gw.store, t.gw.keyring, row.id) as { events: { event: string | null; data: string }[] } | undefined;
        const e = d?.events.find((x) => x.event === 'portcullis.server_request_answer' && x.data.includes('CREDIT_CARD'));
        if (e) return JSON.parse(e.data) as { method: string; outcome: string; findings: { type: string; action: string }[] };
      }
      return undefined;
    });
    assert.equal(answer.method, 'sampling/createMessage');
    assert.equal(answer.outcome, 'forwarded');
    assert.deepEqual(answer.findings.map((f) => [f.type, f.action]), [['CREDIT_CARD', 'mask']]);
  });

  it('attack: a secret in the model\'s answer is blocked: the server never gets it, its sampling request fails', async () => {
    const key = fakeCredential.aws();
    s.answer = () => `the key is ${key}`;
    const before = upstream.sampled.length;
    const r = await agent.callTool({ name: 'ask_model', arguments: { q: 'what is the deploy key?' } });
    assert.match(toolText(r), /sampling refused: .*withheld the answer to sampling\/createMessage/);
    assert.equal(upstream.sampled.length, before, 'no answer reached the server');
    assert.ok(!JSON.stringify(r).includes(key));
  });

  it('attack: a secret the user types into an elicitation form is blocked; a harmless answer reaches the server', async () => {
    const key = fakeCredential.github();
    s.input = `use ${key}`;
    const before = upstream.sampled.length;
    const r = await agent.callTool({ name: 'ask_user', arguments: { q: 'which token should I use?' } });
    assert.equal(s.asked.at(-1), 'which token should I use?');
    assert.match(toolText(r), /elicitation refused: .*withheld the answer to elicitation\/create/);
    assert.equal(upstream.sampled.length, before);
    s.input = 'the staging one';
    const ok = await agent.callTool({ name: 'ask_user', arguments: { q: 'which environment?' } });
    assert.match(toolText(ok), /user said .*the staging one/);
    assert.deepEqual(upstream.sampled.at(-1), { answer: 'the staging one' });
  });
});
