import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seeded } from '../../test/detect/seeded.ts';
import { GatewayError } from '../core/errors.ts';
import { parseJsonExact } from '../core/json-exact.ts';
import { parseJsonObject } from './body.ts';
import { parseJsonPieces, PIECE_BYTES } from './json-pieces.ts';

/** A deterministic generator, so a failure names a seed that reproduces it. */
const rng = (seed: number): (() => number) => seeded(seed).next;

const ATOMS = ['0', '-0', '1e400', '12345678901234567890', '3.14', '-2.5E-3', 'true', 'false', 'null', '"a\\"b\\\\"', '"Zürich — 東京 😀"', '"\\u0041\\n"', '""'];

/** Random JSON text with big containers (so the piecewise path recurses), odd whitespace and exact-number traps. */
function doc(r: () => number, depth: number): string {
  const ws = () => [' ', '', '\n', '\t', '\r\n  '][Math.floor(r() * 5)]!;
  const roll = r();
  if (depth > 3 || roll < 0.3) return ATOMS[Math.floor(r() * ATOMS.length)]!;
  if (roll < 0.45) return JSON.stringify('text '.repeat(Math.floor(r() * 4000)));
  const n = Math.floor(r() * 12);
  const items = Array.from({ length: n }, (_, i) => {
    const v = doc(r, depth + 1);
    if (roll < 0.7) return `${ws()}${v}${ws()}`;
    const key = ['k', '__proto__', 'dup', 'a"b', '10', `k${i}`][Math.floor(r() * 6)]!;
    return `${ws()}${JSON.stringify(key)}${ws()}:${ws()}${v}${ws()}`;
  });
  return roll < 0.7 ? `[${items.join(',')}]` : `{${items.join(',')}}`;
}

const same = (a: unknown, b: unknown): void => {
  // JSON.stringify writes exact numbers (JSON.rawJSON) back as their text; the structure is compared too.
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  assert.deepEqual(a, b);
};

describe('parseJsonPieces: a large body parsed in pieces', () => {
  it('equals parseJsonExact of the whole text on random documents larger than a piece', () => {
    let large = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const text = `${[' ', ''][seed % 2]}{"model":"m","messages":${doc(rng(seed), 0)},"tail":${doc(rng(seed + 1000), 2)}}\n`;
      const raw = Buffer.from(text);
      if (raw.length > PIECE_BYTES) large++;
      const got = parseJsonPieces(raw);
      assert.ok(got, `seed ${seed}: a valid document is taken apart`);
      same(got.value, parseJsonExact(text));
    }
    assert.ok(large > 20, `only ${large} documents were larger than a piece`);
  });

  it('keeps "__proto__" as an own property and the last of duplicate keys, as JSON.parse', () => {
    const big = JSON.stringify('x'.repeat(PIECE_BYTES));
    const text = `{"__proto__":{"polluted":1},"dup":1,"messages":[${big},${big}],"dup":2}`;
    const v = parseJsonPieces(Buffer.from(text))!.value as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    same(v, JSON.parse(text));
    assert.deepEqual(Object.keys(v), ['__proto__', 'dup', 'messages']);
  });

  it('keeps numbers a double cannot hold exact, also where a piece is a number alone', () => {
    const big = JSON.stringify('x'.repeat(PIECE_BYTES));
    const text = `{"a":[${big},12345678901234567890,-0,1e400],"b":${big}}`;
    same(parseJsonPieces(Buffer.from(text))!.value, parseJsonExact(text));
  });

  it('never accepts what JSON.parse refuses: malformed documents are left to the whole-text parse', () => {
    const big = JSON.stringify('x'.repeat(PIECE_BYTES));
    const bad = [
      `{"a":[${big},]}`, `{"a":[${big}}`, `{"a":${big},}`, `{"a" ${big}}`, `{"a":${big}} x`, `{a:${big}}`, `{"a":[${big}],"b":tru}`,
      `{"a":[${big},01]}`, `{"a":[${big}]`, `\uFEFF{"a":${big}}`, `{"a":[${big},"\u0001"]}`, `{"a":{"b":[${big}}]}`,
    ];
    for (const text of bad) {
      assert.throws(() => JSON.parse(text), SyntaxError, 'the case is really malformed');
      assert.equal(parseJsonPieces(Buffer.from(text)), undefined);
      assert.throws(() => parseJsonObject(Buffer.from(text), 'application/json'), (e: unknown) => e instanceof GatewayError && e.code === 'invalid_json');
    }
  });

  it('parseJsonObject refuses invalid UTF-8 in a large body as before', () => {
    const raw = Buffer.concat([Buffer.from(`{"a":"${'x'.repeat(PIECE_BYTES)}`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    assert.throws(() => parseJsonObject(raw, 'application/json'), (e: unknown) => e instanceof GatewayError && e.code === 'invalid_json' && /UTF-8/.test(e.message));
  });
});
