import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { ConfigError, parseConfig } from '../../src/config/loader.ts';
import { evaluate, type Sample } from '../../src/detect/detectors/evaluate.ts';
import { loadNameRecognizer, NameRecognizerUnavailable } from '../../src/detect/ner/index.ts';
import { compileContentPolicy, ContentSectionError } from '../../src/detect/policy-content.ts';
import { compileScanner } from '../../src/detect/scanner.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** The optional names recognizer (config detection.names): PERSON and LOCATION from compromise's lexicon. */
const names = await loadNameRecognizer();
const scanner = compileScanner({ builtIns: ['names'], extra: [names] });
const found = (text: string) => scanner.scan(text).map((f) => `${f.type}:${text.slice(f.start, f.end)}`);

describe('names recognizer', () => {
  it('finds people (known first and last names, titles, particles) and places', () => {
    assert.deepEqual(found("It's under my partner's name Donald van der Voet"), ['PERSON:Donald van der Voet']);
    assert.deepEqual(found('directed by James Koumura, from Austria'), ['PERSON:James Koumura', 'LOCATION:Austria']);
    assert.deepEqual(found('Mrs. Okonkwo called'), ['PERSON:Okonkwo'], 'an unknown name after a title');
    assert.deepEqual(found('ask the Dr; Okonkwo said no'), [], 'a title only counts right before the name');
    assert.deepEqual(found('the princess arrived this morning from bahrain.'), ['LOCATION:bahrain']);
    assert.deepEqual(found("verses from Elizabeth Mitchell's Cautionary Tales"), ['PERSON:Elizabeth Mitchell']);
    assert.deepEqual(found('we moved to South Africa in May'), ['LOCATION:South Africa'], 'a place starting with a common word');
    assert.deepEqual(found('it was the New Deal era'), []);
  });

  it('street names, companies, acronyms and sentence-initial words are not people', () => {
    assert.deepEqual(found('change my address to 92 Eusebio Dávila 57'), []);
    assert.deepEqual(found('his address: 15 Via Carlo Cattaneo 130'), []);
    assert.deepEqual(found('Smith Ltd. is the brainchild of our founders'), []);
    assert.deepEqual(found("Here's my SSN: 308-63-0237"), []);
    assert.deepEqual(found('Zoolander is a film.'), []);
    assert.deepEqual(found('read Zorvath Quellin Mardrak Tessvik Orrendal Vashkir Helmoth Drevanik Quorrin Ystravel now'), [], 'a run longer than the streaming bound (64) is a heading');
  });

  it('a missing package is a clear error naming it, not a silently unscanned gateway', async () => {
    await assert.rejects(loadNameRecognizer({ importer: () => Promise.reject(new Error('Cannot find package')) }), (err: unknown) => err instanceof NameRecognizerUnavailable && /npm install compromise/.test(err.message));
    await assert.rejects(loadNameRecognizer({ importer: () => Promise.resolve({}) }), NameRecognizerUnavailable);
  });

  it('config detection.names: off by default; a misspelt key or a non-boolean is refused with its path', () => {
    const base = 'store: { url: "sqlite::memory:" }\nproviders: [{ name: p, type: openai, base_url: "http://127.0.0.1:1/v1", api_key: "env:K" }]\nroutes: [{ model: "*", provider: p }]\n';
    assert.equal(parseConfig(base, 't.yaml').detection.names?.enabled ?? false, false);
    assert.equal(parseConfig(`${base}detection: { names: { enabled: true } }\n`, 't.yaml').detection.names?.enabled, true);
    for (const bad of ['detection: { names: { enable: true } }', 'detection: { names: { enabled: "yes" } }']) {
      assert.throws(() => parseConfig(`${base}${bad}\n`, 't.yaml'), (err: unknown) => err instanceof ConfigError && /detection\.names/.test(err.message), bad);
    }
  });

  it('a policy rule on PERSON compiles only when the gateway has the recognizer', () => {
    const section = { rules: [{ id: 'names', types: ['PERSON'], action: 'mask' }] };
    assert.throws(() => compileContentPolicy(section), (err: unknown) => err instanceof ContentSectionError && /no enabled detector reports PERSON/.test(JSON.stringify(err.issues)));
    assert.ok(compileContentPolicy(section, { extraDetectors: [names] }).scanner.types.includes('PERSON'));
    // A policy can leave the gateway's recognizer out like any built-in.
    const off = compileContentPolicy({ detectors: { disable: ['names'] }, rules: [{ id: 'all', types: '*', action: 'mask' }] }, { extraDetectors: [names] });
    assert.deepEqual(off.scanner.scan('say hi to Margaret Thornbury'), []);
    assert.throws(() => compileContentPolicy({ detectors: { builtins: 'none' }, ...section }, { extraDetectors: [names] }), ContentSectionError);
  });

  it("beats Presidio's published PERSON figures (P 0.57 / R 0.65 at IoU >= 0.9) on presidio-research data", () => {
    const path = new URL('./corpora/presidio-research-generated_large.json', import.meta.url);
    assert.ok(existsSync(path), `corpus at ${path.pathname}`);
    const raw = JSON.parse(readFileSync(path, 'utf8')) as { full_text: string; spans: { entity_type: string; start_position: number; end_position: number }[] }[];
    const samples: Sample[] = raw.map((r) => ({ text: r.full_text, spans: r.spans.map((s) => ({ type: s.entity_type, start: s.start_position, end: s.end_position })) }));
    const r = evaluate(samples, (t) => scanner.scan(t), { types: ['PERSON'] }).PERSON!;
    assert.ok(r.precision > 0.57 && r.recall > 0.65, JSON.stringify(r));
  });
});

describe('names recognizer through the gateway (config detection.names.enabled)', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({ extraYaml: 'detection:\n  names: { enabled: true }\n' });
    const api = async (path: string, body: unknown) => {
      const r = await fetch(`${t.gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    const source = 'version: 1\nrules: [{ id: all, effect: allow }]\ncontent:\n  rules: [{ id: names, types: [PERSON], direction: request, action: tokenize }]\n';
    const pushed = await api('/admin/v1/policies', { source, message: 'names' });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
    assert.equal((await api(`/admin/v1/policies/${String(pushed.json.id)}/activate`, {})).status, 200);
  });
  after(() => t.close());

  it('a name is tokenized before the provider sees it and restored in the answer', async () => {
    const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'please greet Margaret Thornbury today' }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    const sent = JSON.stringify(t.mock.received.at(-1)!.body);
    assert.ok(!sent.includes('Margaret') && !sent.includes('Thornbury') && /⟦PERSON_1⟧/.test(sent), sent);
    assert.equal(text, 'echo: please greet Margaret Thornbury today');
  });
});
