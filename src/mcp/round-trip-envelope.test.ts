import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Keyring } from '../crypto/keyring.ts';
import { isEnvelope, RoundTripEnvelopes, type RoundTrip } from './round-trip-envelope.ts';

const RT: Omit<RoundTrip, 'expires'> = {
  state: 'srv.{"a":1}', subject: 'user:alice', server: 'v2', roundTrip: 'tools/call\0ask_model', requests: { answer: 'sampling/createMessage', __proto__x: 'roots/list' },
};

describe('round-trip envelope', () => {
  const master = randomBytes(32);
  const a = new RoundTripEnvelopes(new Keyring(master));

  it('opens on another instance with the same master key, with its expiry one hour on', () => {
    const text = a.seal(RT, 1_000);
    assert.ok(isEnvelope(text) && /^pcr1\.[A-Za-z0-9_-]+$/.test(text));
    assert.deepEqual(new RoundTripEnvelopes(new Keyring(Buffer.from(master))).open(text), { ...RT, expires: 1_000 + 3_600_000 });
    assert.equal(new RoundTripEnvelopes(new Keyring(randomBytes(32))).open(text), undefined, 'another master key');
  });

  it('keeps a state of null and a `__proto__` request key as plain data', () => {
    const text = a.seal({ ...RT, state: null, requests: JSON.parse('{"__proto__":"roots/list"}') as Record<string, string> }, 0);
    const rt = a.open(text);
    assert.equal(rt?.state, null);
    assert.ok(rt && Object.hasOwn(rt.requests, '__proto__'));
    assert.equal(Object.getPrototypeOf(rt.requests), Object.prototype);
  });

  it('refuses a flipped byte, a truncation, another encoding of the same bytes and a foreign sealed value', () => {
    const text = a.seal(RT, 0);
    const sealed = Buffer.from(text.slice(5), 'base64url');
    for (let i = 0; i < sealed.length; i += 7) {
      const flipped = Buffer.from(sealed);
      flipped[i]! ^= 0x80;
      assert.equal(a.open(`pcr1.${flipped.toString('base64url')}`), undefined, `byte ${i}`);
    }
    assert.equal(a.open(text.slice(0, -1)), undefined);
    assert.equal(a.open(`${text}=`), undefined);
    // Base64url with different unused trailing bits decodes to the same bytes: only the one encoding is accepted.
    let loose = text;
    for (let pad = ''; Buffer.from(loose.slice(5), 'base64url').length % 3 !== 1; pad += 'x') loose = a.seal({ ...RT, state: `${RT.state}${pad}` }, 0);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = loose.slice(0, -1) + alphabet[alphabet.indexOf(loose.at(-1)!) ^ 1]!;
    assert.deepEqual(Buffer.from(twin.slice(5), 'base64url'), Buffer.from(loose.slice(5), 'base64url'));
    assert.ok(a.open(loose));
    assert.equal(a.open(twin), undefined);
    // A value the same key sealed for another use (another AAD) never opens as an envelope.
    const other = new Keyring(master).seal('mcp-round-trip', Buffer.from(JSON.stringify({ ...RT, expires: 9e15 })), 'something-else/v1');
    assert.equal(a.open(`pcr1.${other.toString('base64url')}`), undefined);
    // Nor one of another purpose's key with the same AAD (the `mcp` key is the HMAC key of session ids).
    const purpose = new Keyring(master).seal('mcp', Buffer.from(JSON.stringify({ ...RT, expires: 9e15 })), 'mcp-input-round-trip/v1');
    assert.equal(a.open(`pcr1.${purpose.toString('base64url')}`), undefined);
  });

  it('refuses what is not an envelope at all', () => {
    for (const v of ['', 'pcr1.', 'pcr1.!!', 'pcs1.abc.def', 'plain-state']) assert.equal(a.open(v), undefined, v);
    assert.equal(isEnvelope(42), false);
    assert.equal(isEnvelope('plain'), false);
  });
});
