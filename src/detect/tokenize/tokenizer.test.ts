import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ConversationTokenizer, placeholderType } from './tokenizer.ts';
import { StreamingDetokenizer } from './stream-detokenizer.ts';
import { MemoryTokenVault, TokenConflictError } from './vault.ts';

test('same value → same placeholder; counters per type; exact restore', () => {
  const t = new ConversationTokenizer();
  const a = t.tokenize('EMAIL_ADDRESS', 'a@x.io');
  assert.equal(a, '\u27e6EMAIL_ADDRESS_1\u27e7');
  assert.equal(t.tokenize('EMAIL_ADDRESS', 'b@x.io'), '\u27e6EMAIL_ADDRESS_2\u27e7');
  assert.equal(t.tokenize('EMAIL_ADDRESS', 'a@x.io'), a);
  assert.equal(t.tokenize('custom-id', 'X1'), '\u27e6CUSTOM_ID_1\u27e7');
  assert.equal(t.detokenize(`to ${a}, \u27e6EMAIL_ADDRESS_9\u27e7 stays`), 'to a@x.io, \u27e6EMAIL_ADDRESS_9\u27e7 stays');
  assert.equal(placeholderType('9lives'), 'X9LIVES');
});

test('json detokenize escapes restored values', () => {
  const t = new ConversationTokenizer();
  const p = t.tokenize('PERSON', 'Ann "The" \\ Doe');
  const raw = `{"name":"${p}"}`;
  assert.deepEqual(JSON.parse(t.detokenize(raw, true)), { name: 'Ann "The" \\ Doe' });
});

test('vault: load, save new entries only, continue numbering, reject conflicts', async () => {
  const vault = new MemoryTokenVault();
  const t1 = await ConversationTokenizer.load(vault, 'c1');
  t1.tokenize('EMAIL_ADDRESS', 'a@x.io');
  assert.equal(t1.newEntries.length, 1);
  await t1.save(vault, 'c1');
  assert.equal(t1.newEntries.length, 0);
  const t2 = await ConversationTokenizer.load(vault, 'c1');
  assert.equal(t2.tokenize('EMAIL_ADDRESS', 'a@x.io'), '\u27e6EMAIL_ADDRESS_1\u27e7');
  assert.equal(t2.tokenize('EMAIL_ADDRESS', 'b@x.io'), '\u27e6EMAIL_ADDRESS_2\u27e7');
  assert.equal(t2.newEntries.length, 1);
  const other = await ConversationTokenizer.load(vault, 'c2');
  assert.equal(other.detokenize('\u27e6EMAIL_ADDRESS_1\u27e7'), '\u27e6EMAIL_ADDRESS_1\u27e7');
  const racer = await ConversationTokenizer.load(vault, 'c1');
  racer.tokenize('EMAIL_ADDRESS', 'c@x.io');
  await t2.save(vault, 'c1');
  await assert.rejects(racer.save(vault, 'c1'), TokenConflictError);
  assert.equal(racer.newEntries.length, 1);
});

test('streaming detokenizer restores placeholders split at every position, holding only a prefix', () => {
  const t = new ConversationTokenizer();
  const p1 = t.tokenize('EMAIL_ADDRESS', 'jane@example.com');
  const p2 = t.tokenize('CREDIT_CARD', '4242424242424242');
  const text = `Write to ${p1} and charge ${p2}. Unknown \u27e6FOO_1\u27e7 and a lone \u27e6 bracket.`;
  const want = t.detokenize(text);
  for (let i = 0; i <= text.length; i++) {
    for (const j of [i, Math.min(text.length, i + 3), text.length]) {
      const d = new StreamingDetokenizer(t);
      let out = d.push(text.slice(0, i));
      out += d.push(text.slice(i, j));
      assert.ok(d.held < 60);
      out += d.push(text.slice(j));
      out += d.end();
      assert.equal(out, want, `split ${i}/${j}`);
    }
  }
  const d = new StreamingDetokenizer(t);
  assert.equal(d.push('plain text'), 'plain text');
  assert.equal(d.push(' then \u27e6EMAIL'), ' then ');
  assert.equal(d.held, 6);
});

test('response-minted placeholders: own prefix, restored only when asked for that direction, origin survives the vault', async () => {
  const vault = new MemoryTokenVault();
  const t = await ConversationTokenizer.load(vault, 'c', { responsePrefix: 'MCP_' });
  const req = t.tokenize('EMAIL_ADDRESS', 'a@x.io');
  const res = t.tokenize('EMAIL_ADDRESS', 'b@x.io', 'response');
  assert.equal(res, '\u27e6MCP_EMAIL_ADDRESS_1\u27e7');
  assert.equal(t.tokenize('EMAIL_ADDRESS', 'b@x.io'), res, 'a known value keeps its placeholder whatever the direction');
  assert.equal(t.detokenize(`${req} ${res}`), `a@x.io ${res}`, 'an answer restores only what its request hid');
  assert.equal(t.detokenize(`${req} ${res}`, false, 'response'), `${req} b@x.io`);
  assert.equal(t.typeOf(res, 'response'), 'EMAIL_ADDRESS');
  assert.equal(t.typeOf(res, 'request'), undefined);
  await t.save(vault, 'c');
  const again = await ConversationTokenizer.load(vault, 'c', { responsePrefix: 'MCP_' });
  assert.equal(again.detokenize(res, false, 'response'), 'b@x.io');
  assert.equal(again.detokenize(res), res);
});
