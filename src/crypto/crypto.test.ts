import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashSecret, mintApiKey, parseApiKey, secretMatches } from './api-keys.ts';
import { Keyring } from './keyring.ts';

describe('keyring', () => {
  const k = new Keyring(randomBytes(32));
  it('round-trips and never reuses an IV', () => {
    const a = k.seal('exchange-bodies', Buffer.from('hello'), 'ex1/client_request');
    const b = k.seal('exchange-bodies', Buffer.from('hello'), 'ex1/client_request');
    assert.notDeepEqual(a.subarray(1, 13), b.subarray(1, 13));
    assert.equal(k.open('exchange-bodies', a, 'ex1/client_request').toString(), 'hello');
  });
  it('refuses a swapped row (AAD), another purpose, a flipped bit, another master key', () => {
    const s = k.seal('exchange-bodies', Buffer.from('secret'), 'ex1/response');
    assert.throws(() => k.open('exchange-bodies', s, 'ex2/response'));
    assert.throws(() => k.open('provider-credentials', s, 'ex1/response'));
    const flipped = Buffer.from(s);
    flipped[15]! ^= 1;
    assert.throws(() => k.open('exchange-bodies', flipped, 'ex1/response'));
    assert.throws(() => new Keyring(randomBytes(32)).open('exchange-bodies', s, 'ex1/response'));
  });
});

describe('api keys', () => {
  it('mints parseable keys whose hash matches only the right secret', () => {
    const m = mintApiKey();
    const p = parseApiKey(m.secret)!;
    assert.equal(p.id, m.id);
    assert.ok(secretMatches(p.secretPart, m.hash));
    assert.ok(!secretMatches(p.secretPart.slice(0, -1) + (p.secretPart.endsWith('A') ? 'B' : 'A'), m.hash));
    assert.equal(m.hash, hashSecret(p.secretPart));
    assert.equal(parseApiKey('sk-not-ours'), undefined);
    assert.equal(parseApiKey(m.secret + 'x'), undefined);
  });
});
