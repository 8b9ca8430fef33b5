import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import { entryMessage, ENTRY_VERSION } from '../audit/chain.ts';
import { canonicalJson } from './canonical-json.ts';
import { parseJsonExact } from './json-exact.ts';

/** Oracle: rebuild every object with its keys inserted in sorted order, then plain JSON.stringify. */
function sortedCopy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedCopy);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => [k, sortedCopy(o[k])]));
  }
  return v;
}

// No integer-like keys here: JavaScript objects enumerate those first, so the oracle could not order them.
const KEYS = ['a', 'b', 'B', 'aa', 'ref_id', 'é', '\u{1F600}', '\uFFFD', 'with "quote"', 'line\nbreak', ''];
const STRINGS = ['', 'x', 'é', '\u{1F600}', '"', '\\', '\u0000\u001f', '</script>', 'ümlaut'];

function randomJson(depth: number): unknown {
  const pick = randomInt(depth > 3 ? 4 : 6);
  if (pick === 0) return STRINGS[randomInt(STRINGS.length)];
  if (pick === 1) return [0, -0, 1, -1.5, 1e21, 1e-7, 2 ** 53 - 1, 0.1 + 0.2][randomInt(8)];
  if (pick === 2) return [true, false, null][randomInt(3)];
  if (pick === 3) return randomInt(1000);
  if (pick === 4) return Array.from({ length: randomInt(4) }, () => randomJson(depth + 1));
  return Object.fromEntries(Array.from({ length: randomInt(5) }, () => [KEYS[randomInt(KEYS.length)]!, randomJson(depth + 1)]));
}

test('canonical JSON sorts keys by UTF-16 code units at every level and prints like JSON.stringify (random values)', () => {
  for (let i = 0; i < 2000; i++) {
    const v = randomJson(0);
    assert.equal(canonicalJson(v), JSON.stringify(sortedCopy(v)));
    // Already in canonical order (the fast path), and the same value with one nested object reversed (mixed).
    assert.equal(canonicalJson(sortedCopy(v)), JSON.stringify(sortedCopy(v)));
    assert.equal(canonicalJson({ a: sortedCopy(v), b: { z: 1, y: [v] } }), JSON.stringify(sortedCopy({ a: v, b: { y: [v], z: 1 } })));
  }
  // Ordered at the top, but a nested value the fast path must not print as JSON.stringify would.
  assert.equal(canonicalJson({ a: { b: 1, a: 2 } }), '{"a":{"a":2,"b":1}}');
  assert.equal(canonicalJson({ a: [1, undefined], b: { c: undefined } }), '{"a":[1,null],"b":{}}');
  assert.throws(() => canonicalJson({ a: 1, b: Number.NaN }), TypeError);
  assert.throws(() => canonicalJson({ a: 1, b: { toJSON: () => 'x' } }), TypeError); // never calls toJSON
  assert.equal(canonicalJson({ 10: 1, 2: 2, a: 3 }), '{"10":1,"2":2,"a":3}');
  assert.equal(canonicalJson({ '\uFFFD': 1, '\u{1F600}': 2 }), '{"\u{1F600}":2,"\uFFFD":1}');
  assert.equal(canonicalJson({ a: undefined, b: [undefined] }), '{"b":[null]}');
});

test('canonical JSON refuses what JSON cannot carry instead of guessing', () => {
  for (const bad of [Number.NaN, Infinity, { a: -Infinity }, [1n], () => 1, Symbol('s'), undefined]) {
    assert.throws(() => canonicalJson(bad), TypeError);
  }
});

test('an audit entry message built from a canonical payload equals the canonical JSON of the whole entry', () => {
  for (let i = 0; i < 500; i++) {
    const e = {
      writer: `gw-${randomInt(9)}`, seq: 1 + randomInt(1e6), at: Date.now() + randomInt(1e6), kind: 'exchange.started',
      subject: randomInt(2) ? null : STRINGS[randomInt(STRINGS.length)]!, refId: randomInt(2) ? null : `ex_${randomInt(1e9)}`, prev: 'f'.repeat(64),
    };
    const payload = randomJson(1);
    const whole = { v: ENTRY_VERSION, writer: e.writer, seq: e.seq, at: e.at, kind: e.kind, subject: e.subject, ref_id: e.refId, payload, prev: e.prev };
    assert.equal(entryMessage(e, canonicalJson(payload)), `portcullis-audit/v1\n${canonicalJson(whole)}`);
  }
  assert.throws(() => entryMessage({ writer: 'w', seq: 1, at: Number.NaN, kind: 'a.b', subject: null, refId: null, prev: '' }, '{}'), TypeError);
});

test('a number kept as exact text prints as that text on both paths (an approval digest binds what the provider gets)', () => {
  const body = parseJsonExact('{"z":1,"a":{"max_tokens":99999999999999999999,"n":[-0,1e400]}}');
  assert.equal(canonicalJson(body), '{"a":{"max_tokens":99999999999999999999,"n":[-0,1e400]},"z":1}');
  assert.equal(canonicalJson({ a: (body as { a: unknown }).a }), '{"a":{"max_tokens":99999999999999999999,"n":[-0,1e400]}}');
  assert.notEqual(canonicalJson(parseJsonExact('{"m":99999999999999999999}')), canonicalJson(parseJsonExact('{"m":99999999999999999998}')));
});
