import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ActionDecision } from '../../src/detect/actions.ts';
import { createRequestTransform, type ContentOptions } from '../../src/detect/content/index.ts';
import { ScanCache } from '../../src/detect/scan-cache.ts';
import { compileScanner } from '../../src/detect/scanner.ts';
import type { Scanner } from '../../src/detect/types.ts';
import { ConversationTokenizer } from '../../src/detect/tokenize/tokenizer.ts';
import { fakeCredential } from '../helpers/fake-credentials.ts';
import { seeded } from './seeded.ts';

/** A scanner that counts the texts it really scans. */
function counting(base: Scanner): Scanner & { scanned: string[] } {
  const scanned: string[] = [];
  return { maxBoundedMatchLength: base.maxBoundedMatchLength, unbounded: base.unbounded, scanned, scan: (t) => (scanned.push(t), base.scan(t)) };
}

const ACTIONS: Record<string, ActionDecision['action']> = { EMAIL_ADDRESS: 'mask', AWS_ACCESS_KEY: 'redact' };
const actionFor = (f: { type: string }): ActionDecision => ({ action: ACTIONS[f.type] ?? 'flag', rule: `r-${f.type}` });

describe('scan cache', () => {
  it('property: the same findings and forwarded body with the cache on and off, over growing agent conversations', () => {
    const base = compileScanner();
    for (let seed = 1; seed <= 12; seed++) {
      const r = seeded(seed);
      const cache = new ScanCache({ minChars: 1 });
      const cachedBase = counting(base);
      const messages: { role: string; content: string }[] = [];
      for (let turn = 0; turn < 15; turn++) {
        const parts = Array.from({ length: r.int(1, 4) }, () => r.pick([
          'The build fails in the resolver. ', `Contact ${r.pick(['ana', 'bo', 'chen'])}@example.com about it. `, `key ${fakeCredential.aws()} leaked? `,
          `token ${fakeCredential.github()} `, 'Nothing sensitive here, just a long line of ordinary prose about lock files. ',
        ]));
        messages.push({ role: r.pick(['user', 'assistant', 'tool']), content: parts.join('') });
        // Sometimes the agent resends an earlier message verbatim in a new position.
        if (turn > 2 && r.int(0, 3) === 0) messages.push({ ...messages[r.int(0, messages.length - 2)]! });
        const body = { model: 'gpt-4o', messages: messages.map((m) => ({ ...m })) };
        const off: ContentOptions = { scanners: { request: base }, actionFor };
        const on: ContentOptions = { scanners: { request: cache.scanner('alice\nconv', cachedBase) }, actionFor };
        const a = createRequestTransform('openai.chat', off)(body);
        const before = cachedBase.scanned.length;
        const b = createRequestTransform('openai.chat', on)(body);
        assert.deepEqual(b.body, a.body, `seed ${seed} turn ${turn}: forwarded body`);
        assert.deepEqual(b.findings, a.findings, `seed ${seed} turn ${turn}: findings`);
        assert.equal(b.changed, a.changed);
        // Only texts not seen before in this conversation were scanned.
        const seen = new Set(cachedBase.scanned.slice(0, before));
        for (const t of cachedBase.scanned.slice(before)) assert.ok(!seen.has(t), 'a text seen before was scanned again');
      }
      assert.ok(cachedBase.scanned.length < 15 * 3, `seed ${seed}: ${cachedBase.scanned.length} scans`);
    }
  });

  it('tokenization stays consistent across turns when earlier messages come from the cache', () => {
    const cache = new ScanCache({ minChars: 1 });
    const base = counting(compileScanner());
    const tokenizer = new ConversationTokenizer();
    const opts: ContentOptions = { scanners: { request: cache.scanner('alice\nconv-t', base) }, actionFor: () => ({ action: 'tokenize', rule: 'tok' }), tokenizer };
    const first = { role: 'user', content: `mail ana@example.com and bo@example.com ${'about the release. '.repeat(5)}` };
    const turn1 = createRequestTransform('openai.chat', opts)({ model: 'm', messages: [first] }).body as { messages: { content: string }[] };
    const turn2 = createRequestTransform('openai.chat', opts)({ model: 'm', messages: [first, { role: 'user', content: `and again ana@example.com ${'x'.repeat(40)}` }] }).body as { messages: { content: string }[] };
    assert.equal(turn2.messages[0]!.content, turn1.messages[0]!.content, 'the resent message gets the same placeholders');
    const placeholder = /⟦EMAIL_ADDRESS_\d+⟧/u.exec(turn1.messages[0]!.content)![0];
    assert.ok(turn2.messages[1]!.content.includes(placeholder), 'the same value in a new message gets the same placeholder');
    assert.equal(base.scanned.length, 2, 'the first message was scanned once');
  });

  it('keeps conversations apart and hands out copies', () => {
    const base = counting(compileScanner());
    const cache = new ScanCache({ minChars: 1 });
    const text = `mail ana@example.com ${'x'.repeat(300)}`;
    const one = cache.scanner('alice\nc1', base);
    const f1 = one.scan(text);
    (f1[0] as { type: string }).type = 'TAMPERED';
    assert.notEqual(one.scan(text)[0]!.type, 'TAMPERED');
    assert.equal(base.scanned.length, 1);
    cache.scanner('bob\nc1', base).scan(text);
    assert.equal(base.scanned.length, 2, 'another conversation scans for itself');
  });
});
