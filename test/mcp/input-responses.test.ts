import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client as V2Client, ProtocolError, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { exchangeDetail } from '../../src/audit/exchange-view.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { fakeCredential } from '../helpers/fake-credentials.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { AGENT_SERVER_CONTENT, policyYaml, toolText } from './fixture.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';
import { startV2Upstream, type V2Upstream } from './v2-server.ts';

const V1_TOKEN = 'inputresp-v1-upstream-' + 'c'.repeat(20);
const V2_TOKEN = 'inputresp-v2-upstream-' + 'd'.repeat(20);
const EMAIL = 'carol.jones@example.com';
const CARD = '4111 1111 1111 1111';

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
${AGENT_SERVER_CONTENT}mcp:
  defaults: { effect: deny }
  rules:
    - { id: tools, effect: allow, servers: [v1, v2] }
    - { id: sampling, effect: allow, servers: [v2], methods: ["sampling/createMessage"] }
`;

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: { portcullis?: { code: string } } } };

const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { sampling: {} },
};

/** A model's answer to an embedded sampling request. */
const sampled = (text: string): Record<string, unknown> => ({ role: 'assistant', content: { type: 'text', text }, model: 'm' });

/** A v2 SDK client whose model answers every sampling request with `answer(question)`. */
async function samplingAgent(url: string, key: string, answer: (q: string) => string, asked: string[]): Promise<V2Client> {
  const client = new V2Client({ name: 'inputresp-agent', version: '1.0.0' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: 'auto' } });
  client.setRequestHandler('sampling/createMessage', async (req) => {
    const q = (req.params.messages[0]!.content as { text: string }).text;
    asked.push(q);
    return { role: 'assistant', content: { type: 'text', text: answer(q) }, model: 'agent-model' };
  });
  await client.connect(new V2Transport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  return client;
}

describe('MCP 2026-07-28 inputResponses: the agent\'s answers to embedded requests are scanned on their way to the server', () => {
  let t: TestGateway;
  /** A second replica: the same master key, its own store and process state, a clock that can run ahead. */
  let b: TestGateway;
  let skewMs = 0;
  let v1: UpstreamMcp;
  let v2: V2Upstream;
  let aliceKey = '';
  let malloryKey = '';

  before(async () => {
    v1 = await startUpstreamMcp({ token: V1_TOKEN });
    v2 = await startV2Upstream({ token: V2_TOKEN });
    process.env.PCL_TEST_INPUTRESP_V1 = V1_TOKEN;
    process.env.PCL_TEST_INPUTRESP_V2 = V2_TOKEN;
    const extraYaml = `${policyYaml(POLICY)}mcp:
  servers:
    - { name: v1, url: ${v1.url}, credential: env:PCL_TEST_INPUTRESP_V1 }
    - { name: v2, url: ${v2.url}, credential: env:PCL_TEST_INPUTRESP_V2 }
`;
    const masterKey = randomBytes(32).toString('base64');
    t = await startTestGateway({ extraYaml, masterKey });
    b = await startTestGateway({ extraYaml, masterKey, clock: { now: () => Date.now() + skewMs, mono: () => performance.now() } });
    aliceKey = t.userKey;
    malloryKey = (await createApiKey(t.gw.store.apiKeys, { name: 'mallory', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
  });

  after(async () => {
    await t?.close();
    await b?.close();
    await v1?.close();
    await v2?.close();
  });

  /** One raw 2026-07-28 request to `/mcp/<server>` of gateway `t` (or `at`); the answer read from JSON or from the SSE stream. */
  async function rpc(server: string, key: string, id: number, method: string, params: Record<string, unknown>, at: TestGateway = t): Promise<{ status: number; body: Rpc }> {
    const name: Record<string, string> = typeof params.name === 'string' ? { 'mcp-name': params.name } : {};
    const res = await fetch(`${at.gw.url}/mcp/${server}`, {
      method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: ENVELOPE } }),
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...name },
    });
    const text = await res.text();
    const data = res.headers.get('content-type')?.startsWith('text/event-stream') ? text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).at(-1) ?? '{}' : text;
    return { status: res.status, body: JSON.parse(data) as Rpc };
  }

  /** The `portcullis.server_request_answer` events of the newest `ask_model` record that has one matching `has`. */
  async function answerEvent(has: string): Promise<{ method: string; outcome: string; findings: { type: string; action: string }[] }> {
    return eventually(async () => {
      for (const row of await t.gw.store.exchanges.list({ model: 'ask_model', limit: 20 })) {
        const d = await exchangeDetail(t.gw.store, t.gw.keyring, row.id) as { events: { event: string | null; data: string }[] } | undefined;
        const e = d?.events.find((x) => x.event === 'portcullis.server_request_answer' && x.data.includes(has));
        if (e) return JSON.parse(e.data) as { method: string; outcome: string; findings: { type: string; action: string }[] };
      }
      return undefined;
    });
  }

  it('a card in the model\'s answer is masked before the server reads it, and the answer is an event of the retried call', async () => {
    const asked: string[] = [];
    const client = await samplingAgent(`${t.gw.url}/mcp/v2`, aliceKey, () => `pay with ${CARD}`, asked);
    try {
      const before = v2.answers.length;
      const r = await client.callTool({ name: 'ask_model', arguments: { q: 'how do I pay?' } });
      assert.equal(asked.length, 1);
      assert.equal(v2.answers.length, before + 1, 'the retry reached the server');
      const got = JSON.stringify(v2.answers.at(-1));
      assert.match(got, /pay with/);
      assert.ok(!got.includes(CARD), `the server read the card: ${got}`);
      assert.ok(!toolText(r).includes(CARD));
      const e = await answerEvent('CREDIT_CARD');
      assert.equal(e.method, 'sampling/createMessage');
      assert.equal(e.outcome, 'forwarded');
      assert.deepEqual(e.findings.map((f) => [f.type, f.action]), [['CREDIT_CARD', 'mask']]);
    } finally {
      await client.close();
    }
  });

  it('a value the sampling request hid from the agent under a placeholder is restored for the server', async () => {
    const asked: string[] = [];
    const client = await samplingAgent(`${t.gw.url}/mcp/v2`, aliceKey, (q) => `ok: ${q}`, asked);
    try {
      await client.callTool({ name: 'ask_model', arguments: { q: `write to ${EMAIL}` } });
      assert.match(asked.at(-1) ?? '', /^write to \u27e6MCP_EMAIL_ADDRESS_\d+\u27e7$/, 'the agent\'s model never sees the value');
      const answer = v2.answers.at(-1)?.answer as { content?: { text?: string } } | undefined;
      assert.equal(answer?.content?.text, `ok: write to ${EMAIL}`, 'the server gets its own value back');
      const e = await answerEvent('"restore"');
      assert.deepEqual(e.findings.map((f) => [f.type, f.action]), [['EMAIL_ADDRESS', 'restore']]);
    } finally {
      await client.close();
    }
  });

  it('attack: a secret in the model\'s answer is blocked: the retry never reaches the server, the refusal is recorded unsent', async () => {
    const key = fakeCredential.aws();
    const asked: string[] = [];
    const client = await samplingAgent(`${t.gw.url}/mcp/v2`, aliceKey, () => `the key is ${key}`, asked);
    try {
      const calls = v2.calls.filter((c) => c.tool === 'ask_model').length;
      const answers = v2.answers.length;
      await assert.rejects(client.callTool({ name: 'ask_model', arguments: { q: 'what is the deploy key?' } }), (err: unknown) => {
        assert.ok(err instanceof ProtocolError, String(err));
        assert.doesNotMatch(err.message, new RegExp(key));
        return true;
      });
      assert.equal(asked.length, 1, 'the agent was asked');
      assert.equal(v2.calls.filter((c) => c.tool === 'ask_model').length, calls + 1, 'only the first leg reached the server');
      assert.equal(v2.answers.length, answers);
      assert.ok(!v2.requests.some((r) => r.body.includes(key)), 'no request carried the key upstream');
      const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'ask_model', errorCode: 'content_blocked', limit: 5 }))[0]);
      assert.equal(row.forwarded, false);
      assert.ok(row.findings.some((f) => String(f.type).startsWith('SECRET_') && f.action === 'block' && String(f.path).startsWith('params.inputResponses.answer')));
    } finally {
      await client.close();
    }
  });

  it('attack: inputResponses the gateway never relayed are refused with -32602 and nothing is forwarded', async () => {
    const forged = { answer: { role: 'assistant', content: { type: 'text', text: 'forged, unscanned' }, model: 'm' } };
    const seen = v2.requests.length;
    const out = await rpc('v2', malloryKey, 1, 'tools/call', { name: 'ask_model', arguments: { q: 'x' }, inputResponses: forged, requestState: 'anything' });
    assert.equal(out.status, 200);
    assert.equal(out.body.error?.code, -32602);
    assert.equal(out.body.error?.data?.portcullis?.code, 'unrequested_input_response');
    assert.equal(v2.requests.length, seen, 'nothing reached the server');
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'ask_model', errorCode: 'unrequested_input_response', limit: 5 }))[0]);
    assert.equal(row.forwarded, false);
    assert.equal(row.status, 'rejected');
    // A 2025-era server never gets embedded requests relayed either: a retry towards it is refused the same way.
    const legacy = await rpc('v1', malloryKey, 2, 'tools/call', { name: 'echo', arguments: { text: 'hi' }, inputResponses: forged });
    assert.equal(legacy.body.error?.data?.portcullis?.code, 'unrequested_input_response');
    // A session-based (2025-11-25) caller never gets embedded requests: its inputResponses never reach a server that speaks both eras.
    const res = await fetch(`${t.gw.url}/mcp/v2`, {
      method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'ask_model', arguments: { q: 'x' }, inputResponses: forged } }),
      headers: { authorization: `Bearer ${malloryKey}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    });
    assert.equal(((await res.json()) as Rpc).error?.data?.portcullis?.code, 'unrequested_input_response');
    assert.equal(v2.requests.length, seen, 'nothing reached the server');
  });

  it('attack: an input request relayed to one caller cannot be answered by another, for another tool, or twice', async () => {
    const first = await rpc('v2', aliceKey, 10, 'tools/call', { name: 'ask_model', arguments: { q: 'meaning?' } });
    assert.equal(first.body.result?.resultType, 'input_required');
    const state = first.body.result?.requestState;
    assert.ok(typeof state === 'string' && state.startsWith('pcr1.'), 'the gateway\'s envelope');
    const retry = { name: 'ask_model', arguments: { q: 'meaning?' }, inputResponses: { answer: sampled('forty-two') }, requestState: state };
    const answers = v2.answers.length;
    const stolen = await rpc('v2', malloryKey, 11, 'tools/call', retry);
    assert.equal(stolen.body.error?.code, -32602, 'another caller');
    const elsewhere = await rpc('v2', aliceKey, 12, 'tools/call', { ...retry, name: 'echo', arguments: { text: 'hi' } });
    assert.equal(elsewhere.body.error?.code, -32602, 'another tool');
    assert.equal(v2.answers.length, answers);
    const own = await rpc('v2', aliceKey, 13, 'tools/call', retry);
    assert.equal(toolText(own.body.result), 'model said forty-two', 'the caller it was relayed to answers it');
    assert.equal(v2.answers.length, answers + 1);
    // Not spent: the same caller may send the same call again (the server judges its own state), scanned again.
    const replay = await rpc('v2', aliceKey, 14, 'tools/call', { ...retry, inputResponses: { answer: sampled(`again ${CARD}`) } });
    assert.match(toolText(replay.body.result), /^model said again /);
    assert.equal(v2.answers.length, answers + 2);
    assert.ok(!JSON.stringify(v2.answers.at(-1)).includes(CARD), 'the replayed answer was scanned too');
  });

  /** The first leg of `tool` on gateway `t` as `key`: the gateway's envelope in place of the server's requestState. */
  async function envelopeOf(id: number, tool: string, args: Record<string, unknown>, key = aliceKey): Promise<string> {
    const first = await rpc('v2', key, id, 'tools/call', { name: tool, arguments: args });
    assert.equal(first.body.result?.resultType, 'input_required', JSON.stringify(first.body));
    const state = first.body.result?.requestState;
    assert.ok(typeof state === 'string' && /^pcr1\.[A-Za-z0-9_-]+$/.test(state), `not an envelope: ${String(state)}`);
    return state;
  }

  /** The params of the last `tools/call` the server received. */
  const lastCallParams = (): Record<string, unknown> => {
    const body = v2.requests.map((r) => JSON.parse(r.body || '{}') as { method?: string; params?: Record<string, unknown> }).filter((m) => m.method === 'tools/call').at(-1);
    return body?.params ?? {};
  };

  it('fleet: an input_required relayed by one replica is answered through another, which scans the answer', async () => {
    const state = await envelopeOf(20, 'ask_model', { q: 'how do I pay?' });
    const answers = v2.answers.length;
    // Replica b never saw the first leg: its own store, its own process state, only the master key in common.
    const r = await rpc('v2', b.userKey, 21, 'tools/call', { name: 'ask_model', arguments: { q: 'how do I pay?' }, inputResponses: { answer: sampled(`pay with ${CARD}`) }, requestState: state }, b);
    assert.equal(r.body.error, undefined, JSON.stringify(r.body));
    assert.match(toolText(r.body.result), /^model said pay with /);
    assert.equal(v2.answers.length, answers + 1, 'the retry reached the server');
    assert.ok(!JSON.stringify(v2.answers.at(-1)).includes(CARD), 'replica b masked the card');
    const row = await eventually(async () => (await b.gw.store.exchanges.list({ model: 'ask_model', limit: 5 })).find((x) => x.forwarded === true && x.findings.some((f) => f.type === 'CREDIT_CARD')));
    assert.ok(row.findings.some((f) => f.type === 'CREDIT_CARD' && f.action === 'mask' && String(f.path).startsWith('params.inputResponses.answer')));
  });

  it('attack: an altered envelope, another caller\'s, another tool\'s, another server\'s or an expired one is refused; nothing is forwarded', async () => {
    const state = await envelopeOf(30, 'ask_model', { q: 'meaning?' });
    const retry = { name: 'ask_model', arguments: { q: 'meaning?' }, inputResponses: { answer: sampled('forty-two') }, requestState: state };
    const sealed = Buffer.from(state.slice('pcr1.'.length), 'base64url');
    sealed[Math.floor(sealed.length / 2)]! ^= 0x01;
    const tampered = `pcr1.${sealed.toString('base64url')}`;
    const seen = v2.requests.length;
    const refusedWith = async (p: Promise<{ body: Rpc }>, code: string, why: string): Promise<void> => {
      const out = await p;
      assert.equal(out.body.error?.data?.portcullis?.code, code, `${why}: ${JSON.stringify(out.body)}`);
      if (code === 'unrequested_input_response') assert.equal(out.body.error?.code, -32602, why);
    };
    await refusedWith(rpc('v2', b.userKey, 31, 'tools/call', { ...retry, requestState: tampered }, b), 'unrequested_input_response', 'one byte flipped');
    await refusedWith(rpc('v2', b.userKey, 32, 'tools/call', { name: 'ask_model', arguments: { q: 'meaning?' }, requestState: tampered }, b), 'unrequested_input_response', 'altered, with no answers');
    await refusedWith(rpc('v2', b.userKey, 33, 'tools/call', { ...retry, requestState: `${state}A` }, b), 'unrequested_input_response', 'one character more');
    await refusedWith(rpc('v2', malloryKey, 34, 'tools/call', retry), 'unrequested_input_response', 'another caller');
    await refusedWith(rpc('v2', b.userKey, 35, 'tools/call', { ...retry, name: 'echo', arguments: { text: 'hi' } }, b), 'unrequested_input_response', 'another tool');
    await refusedWith(rpc('v2', b.userKey, 36, 'tools/call', { ...retry, inputResponses: { other: sampled('x') } }, b), 'unrequested_input_response', 'a key it did not relay');
    await refusedWith(rpc('v1', b.userKey, 37, 'tools/call', { name: 'ask_model', arguments: { q: 'meaning?' }, requestState: state }, b), 'unrequested_input_response', 'another server');
    skewMs = 60 * 60_000 + 1_000;
    try {
      await refusedWith(rpc('v2', b.userKey, 38, 'tools/call', retry, b), 'content_blocked', 'after its hour');
      await refusedWith(rpc('v2', b.userKey, 39, 'tools/call', { name: 'ask_model', arguments: { q: 'meaning?' }, requestState: state }, b), 'content_blocked', 'after its hour, with no answers');
    } finally {
      skewMs = 0;
    }
    assert.equal(v2.requests.length, seen, 'nothing reached the server');
    // The envelope itself was fine: what was refused was each change to it or to the call.
    const own = await rpc('v2', b.userKey, 40, 'tools/call', retry, b);
    assert.equal(toolText(own.body.result), 'model said forty-two');
  });

  it('the server gets its own requestState back byte for byte, and none when it sent none', async () => {
    const original = `srv1.{"step":2,"q":"caf\u00e9 \\"x\\" \\\\ / \u2028 \ud83d\ude00"}.pcr1.looks-like-ours=`;
    const args = { q: 'hi', state: original };
    const state = await envelopeOf(50, 'ask_stateful', args);
    assert.ok(!state.includes('srv1') && !Buffer.from(state.slice(5), 'base64url').includes('srv1'), 'the agent cannot read the server\'s state');
    // A retry with the envelope and no answers is unwrapped too.
    await rpc('v2', b.userKey, 51, 'tools/call', { name: 'ask_stateful', arguments: args, requestState: state }, b);
    assert.equal(lastCallParams().requestState, original);
    assert.equal(lastCallParams().inputResponses, undefined);
    const done = await rpc('v2', b.userKey, 52, 'tools/call', { name: 'ask_stateful', arguments: args, inputResponses: { answer: sampled('forty-two') }, requestState: state }, b);
    assert.equal(toolText(done.body.result), `model said forty-two (state ${original})`);
    assert.equal(lastCallParams().requestState, original);
    // ask_model sends no requestState: its retry reaches the server without one.
    const none = await envelopeOf(53, 'ask_model', { q: 'stateless?' });
    const r = await rpc('v2', aliceKey, 54, 'tools/call', { name: 'ask_model', arguments: { q: 'stateless?' }, inputResponses: { answer: sampled('yes') }, requestState: none });
    assert.equal(toolText(r.body.result), 'model said yes');
    assert.equal(Object.hasOwn(lastCallParams(), 'requestState'), false);
    // A requestState that is not the gateway's passes untouched when nothing is answered.
    await rpc('v2', aliceKey, 55, 'tools/call', { name: 'ask_model', arguments: { q: 'plain' }, requestState: 'plain-server-state' });
    assert.equal(lastCallParams().requestState, 'plain-server-state');
  });

  it('fail closed: when the vault cannot be read, the retry with its answers is refused and nothing reaches the server', async () => {
    const state = await envelopeOf(60, 'ask_model', { q: 'how do I pay?' });
    const retry = { name: 'ask_model', arguments: { q: 'how do I pay?' }, inputResponses: { answer: sampled(`mail ${EMAIL}`) }, requestState: state };
    const repo = t.gw.store.tokenVault;
    const get = repo.get.bind(repo);
    repo.get = () => Promise.reject(new Error('vault down'));
    const seen = v2.requests.length;
    try {
      const r = await rpc('v2', aliceKey, 61, 'tools/call', retry);
      assert.equal(r.body.error?.data?.portcullis?.code, 'policy_unavailable', JSON.stringify(r.body));
      assert.equal(v2.requests.length, seen, 'nothing reached the server');
    } finally {
      repo.get = get;
    }
    const ok = await rpc('v2', aliceKey, 62, 'tools/call', retry);
    assert.match(toolText(ok.body.result), /^model said mail /, 'the same retry goes through once the vault answers');
  });
});
