import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { GatewayError } from '../../src/core/errors.ts';
import { createPresidioRecognizer, prescanRequest, requestTexts } from '../../src/detect/external.ts';
import { compileContentPolicy } from '../../src/detect/policy-content.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** A stand-in Presidio analyzer on a real socket: PERSON for known names, offsets in code points like Python. */
const NAMES = ['Ada Lovelace', 'Grace Hopper'];
let mode: 'ok' | 'slow' | 'error' | 'garbage' | 'redirect' = 'ok';
const redirected: string[] = [];
let calls = 0;
function presidio(): Promise<Server> {
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      calls++;
      if (req.url === '/elsewhere') redirected.push(raw);
      if (req.url !== '/analyze' || req.method !== 'POST') return void res.writeHead(404).end();
      if (mode === 'slow') return; // never answers
      if (mode === 'error') return void res.writeHead(500).end('boom');
      if (mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"not": "a list"}');
      // A redirect (to this same server, so a follow would be observable) must not be followed with the text.
      if (mode === 'redirect') return void res.writeHead(307, { location: '/elsewhere' }).end();
      const { text, entities } = JSON.parse(raw) as { text: string; entities: string[] };
      const cps = Array.from(text);
      const out = [];
      for (const name of NAMES) {
        for (let i = text.indexOf(name); i >= 0; i = text.indexOf(name, i + 1)) {
          const start = Array.from(text.slice(0, i)).length;
          out.push({ entity_type: 'PERSON', start, end: start + Array.from(name).length, score: 0.85 });
        }
      }
      assert.ok(entities.includes('PERSON') && cps.length >= 0);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

describe('external recognizer (Presidio analyzer API)', () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = await presidio();
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('maps code-point offsets to UTF-16, caches per text, and merges with the built-in findings', async () => {
    mode = 'ok';
    const rec = createPresidioRecognizer({ url, timeoutMs: 2000 });
    const text = '😀😀 Ada Lovelace wrote to ada@example.com';
    const before = calls;
    const found = await rec.analyze([text, text, '']);
    assert.equal(calls - before, 1, 'one call per distinct non-empty text');
    const f = found.get(text)![0]!;
    assert.equal(text.slice(f.start, f.end), 'Ada Lovelace');
    await rec.analyze([text]);
    assert.equal(calls - before, 1, 'cached');
    const policy = compileContentPolicy({ external: { entities: ['PERSON'] }, rules: [{ id: 'names', types: ['PERSON', 'EMAIL_ADDRESS'], action: 'mask' }] });
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: text }, { role: 'user', content: [{ type: 'text', text: 'and Grace Hopper' }] }] };
    assert.deepEqual(requestTexts('openai.chat', body), [text, 'and Grace Hopper']);
    const scanner = await prescanRequest('openai.chat', body, policy.scanner, rec);
    assert.deepEqual(scanner.scan(text).map((x) => x.type), ['PERSON', 'EMAIL_ADDRESS']);
    assert.throws(() => scanner.scan('a text nobody analyzed'), /not analyzed/, 'fail closed on a text that skipped the pre-scan');
  });

  for (const m of ['slow', 'error', 'garbage', 'redirect'] as const) {
    it(`fails closed when the analyzer is ${m}, without echoing the text`, async () => {
      mode = m;
      const rec = createPresidioRecognizer({ url, timeoutMs: 300 });
      await assert.rejects(rec.analyze(['secret plan of Ada Lovelace']), (err: GatewayError) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, 'evaluation_error');
        assert.ok(!err.message.includes('Ada'));
        return true;
      });
      assert.deepEqual(redirected, [], 'the text never went to a redirect target');
    });
  }

  it('refuses to send more text than configured', async () => {
    mode = 'ok';
    const rec = createPresidioRecognizer({ url, maxChars: 10 });
    await assert.rejects(rec.analyze(['x'.repeat(11)]), /too much text/);
  });

  describe('through the gateway (config detection.external + a policy whose content section asks for PERSON)', () => {
    let t: TestGateway;
    const api = async (method: string, path: string, body: unknown) => {
      const r = await fetch(`${t.gw.url}${path}`, { method, headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    const POLICY = `version: 1
rules: [{ id: all, effect: allow }]
content:
  external: { entities: [PERSON] }
  rules: [{ id: names, types: [PERSON], direction: request, action: tokenize }]
`;
    before(async () => {
      t = await startTestGateway({ extraYaml: `detection:\n  external: { url: "${url}", timeout_ms: 300 }\n` });
      const pushed = await api('POST', '/admin/v1/policies', { source: POLICY, message: 'names' });
      assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
      assert.equal((await api('POST', `/admin/v1/policies/${String(pushed.json.id)}/activate`, {})).status, 200);
    });
    after(() => t.close());

    it('a name found by the analyzer is tokenized before the provider sees it and restored; analyzer down = refused', async () => {
      mode = 'ok';
      const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
      const stream = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'say hi to Grace Hopper' }] });
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      const sent = JSON.stringify(t.mock.received.at(-1)!.body);
      assert.ok(!sent.includes('Grace Hopper') && /⟦PERSON_1⟧/.test(sent));
      assert.equal(text, 'echo: say hi to Grace Hopper');

      mode = 'slow';
      const before = t.mock.received.length;
      await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'about Ada Lovelace' }] }), (err: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(err.status, 503);
        assert.ok(!err.message.includes('Ada'));
        return true;
      });
      assert.equal(t.mock.received.length, before, 'nothing went upstream');
      mode = 'ok';
    });

    it('a gateway without a recognizer refuses a policy that asks for external entities', async () => {
      const plain = await startTestGateway();
      try {
        const r = await fetch(`${plain.gw.url}/admin/v1/policies`, {
          method: 'POST', headers: { authorization: `Bearer ${plain.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ source: POLICY, message: 'x' }),
        });
        const body = JSON.stringify(await r.json());
        assert.equal(r.status, 400, body);
        assert.match(body, /detection\.external/);
      } finally {
        await plain.close();
      }
    });
  });
});
