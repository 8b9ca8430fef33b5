/**
 * Zero leaks at any split, with the REAL built-in scanner (the protocol-level property test next door uses a
 * stand-in): every entity is split at every position inside it (plus a few around it) across chunk boundaries,
 * in the answer text and in tool-call arguments (raw JSON), interleaved, for each streaming protocol. The client's
 * reassembled text must equal the masked text, and tokenized values must come back exactly.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createRequestTransform, createStreamRewriter, type ContentOptions } from '../../src/detect/content/index.ts';
import { assemble, pipe, upstream, type Piece, type StreamApi } from '../../src/detect/content/testing.ts';
import { compileContentPolicy } from '../../src/detect/policy-content.ts';
import { ConversationTokenizer } from '../../src/detect/tokenize/tokenizer.ts';
import { fakeCredential, randomChars } from '../helpers/fake-credentials.ts';

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

const APIS: readonly StreamApi[] = ['openai.chat', 'openai.responses', 'anthropic.messages'];
const PAD = 'Plain words that no detector reports, repeated to pass the hold-back window. '.repeat(5);
const ENTITIES: readonly { type: string; value: string }[] = [
  { type: 'EMAIL_ADDRESS', value: 'jane.doe+test@mail.example.co.uk' },
  { type: 'CREDIT_CARD', value: '4111-1111-1111-1111' },
  { type: 'IBAN_CODE', value: 'gb82 west 1234 5698 7654 32' },
  { type: 'PHONE_NUMBER', value: '+44 20 7946 0958' },
  { type: 'US_SSN', value: '078-05-1120' },
  // Credential-shaped values are made at run time (random, never a live secret); the PEM is a fresh EC key.
  { type: 'SECRET_AWS_ACCESS_KEY', value: fakeCredential.aws() },
  { type: 'SECRET_GITHUB_TOKEN', value: fakeCredential.github() },
  { type: 'SECRET_JWT', value: `${b64url({ alg: 'HS256' })}.${b64url({ sub: randomChars('0123456789', 10) })}.${randomBytes(32).toString('base64url')}` },
  { type: 'SECRET_PRIVATE_KEY', value: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString().trim() },
];
const policy = compileContentPolicy({ rules: [{ id: 'mask-all', types: '*', action: 'mask' }] });

function pieces(text: string, args: string, cut: number): Piece[] {
  const j = args.indexOf(text.slice(0, 20)) + cut;
  return [
    { ch: 'c', text: text.slice(0, cut) }, { ch: 't', text: args.slice(0, j) },
    { ch: 'c', text: text.slice(cut, cut + 3) }, { ch: 't', text: args.slice(j, j + 3) },
    { ch: 'c', text: text.slice(cut + 3) }, { ch: 't', text: args.slice(j + 3) },
  ];
}

function run(api: StreamApi, opts: ContentOptions, p: Piece[]) {
  const rw = createStreamRewriter(api, opts);
  return { ...assemble(api, pipe(rw, upstream(api, p))), maxHeld: rw.maxHeld };
}

test('mask with the built-in scanner: no entity leaks at any split, in text or tool arguments, on any protocol', (t) => {
  const opts: ContentOptions = { scanners: { response: policy.scanners.response }, actionFor: policy.actionFor };
  let maxHeld = 0;
  for (const e of ENTITIES) {
    const text = `${PAD}${e.value} tail.`;
    const args = JSON.stringify({ note: text });
    const want = `${PAD}[${e.type}] tail.`;
    for (const api of APIS) {
      for (let cut = PAD.length - 2; cut <= PAD.length + e.value.length + 2; cut++) {
        const r = run(api, opts, pieces(text, args, cut));
        assert.equal(r.content, want, `${e.type} ${api} content cut ${cut}`);
        assert.equal(r.args, JSON.stringify({ note: want }), `${e.type} ${api} args cut ${cut}`);
        maxHeld = Math.max(maxHeld, r.maxHeld);
      }
    }
  }
  t.diagnostic(`max hold-back ${maxHeld} chars; window ${policy.scanner.maxBoundedMatchLength}`);
});

test('tokenize with the built-in scanner: values restored exactly at every split', () => {
  for (const e of ENTITIES.filter((x) => !x.type.startsWith('SECRET_PRIVATE'))) {
    const tok = new ConversationTokenizer();
    const text = `${PAD}${e.value} tail.`;
    const req = createRequestTransform('openai.chat', { scanners: { request: policy.scanner }, actionFor: () => ({ action: 'tokenize', rule: 't' }), tokenizer: tok })({ messages: [{ role: 'user', content: text }] });
    const sent = (req.body as { messages: { content: string }[] }).messages[0]!.content;
    assert.ok(!sent.includes(e.value), `${e.type} tokenized`);
    const opts: ContentOptions = { scanners: { response: policy.scanners.response }, actionFor: policy.actionFor, tokenizer: tok };
    for (const api of APIS) {
      for (let cut = PAD.length - 2; cut <= sent.length; cut += 1) {
        const r = run(api, opts, pieces(sent, JSON.stringify({ note: sent }), cut));
        assert.equal(r.content, text, `${e.type} ${api} cut ${cut}`);
        assert.equal(r.args, JSON.stringify({ note: text }), `${e.type} ${api} args cut ${cut}`);
      }
    }
  }
});

test('the optional names recognizer: no name leaks at any split, on any protocol', async () => {
  const { loadNameRecognizer } = await import('../../src/detect/ner/index.ts');
  const named = compileContentPolicy({ rules: [{ id: 'mask-all', types: '*', action: 'mask' }] }, { extraDetectors: [await loadNameRecognizer()] });
  const opts: ContentOptions = { scanners: { response: named.scanners.response }, actionFor: named.actionFor };
  for (const [type, value] of [['PERSON', 'Margaret van der Thornbury'], ['LOCATION', 'Austria']] as const) {
    const text = `${PAD}please write to ${value} tail.`;
    const want = `${PAD}please write to [${type}] tail.`;
    const at = PAD.length + 'please write to '.length;
    for (const api of APIS) {
      for (let cut = at - 2; cut <= at + value.length + 2; cut++) {
        const r = run(api, opts, pieces(text, JSON.stringify({ note: text }), cut));
        assert.equal(r.content, want, `${type} ${api} content cut ${cut}`);
        assert.equal(r.args, JSON.stringify({ note: want }), `${type} ${api} args cut ${cut}`);
      }
    }
  }
});
