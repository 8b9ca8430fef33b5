import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isGatewayError } from '../../core/errors.ts';
import { StreamTransformer } from './transformer.ts';
import { ENTITIES, resolver, standInScanner } from './testing.ts';
import type { Action } from '../types.ts';

function run(chunks: readonly string[], action: Action = 'mask', pemCap?: number): { out: string; t: StreamTransformer } {
  const t = new StreamTransformer({ scanner: standInScanner({ pemCap }), direction: 'response', resolve: resolver(action) });
  let out = '';
  for (const c of chunks) out += t.push(c);
  out += t.end();
  return { out, t };
}

test('text without findings passes unchanged; hold-back ≤ window - 1 + minRelease - 1 (≤ 512)', () => {
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(40);
  for (const [minRelease, bound] of [[1, 345], [undefined, 345 + 63]] as const) {
    const t = new StreamTransformer({ scanner: standInScanner(), direction: 'response', resolve: resolver('mask'), minRelease });
    let out = '';
    for (let i = 0; i < text.length; i += 7) {
      out += t.push(text.slice(i, i + 7));
      assert.ok(t.held <= bound, `held ${t.held}`);
    }
    assert.ok(t.maxHeld >= bound - 7);
    out += t.end();
    assert.equal(out, text);
  }
});

test('every entity is masked at every two-way split', () => {
  for (const e of ENTITIES) {
    const text = `Hello, here: ${e.value} and more text after it.`;
    for (let i = 0; i <= text.length; i++) {
      const { out, t } = run([text.slice(0, i), text.slice(i)]);
      assert.equal(out, `Hello, here: [${e.type}] and more text after it.`, `${e.type} split at ${i}`);
      assert.equal(t.findings.length, 1);
      assert.equal(t.findings[0]!.start, 13);
      assert.equal(t.findings[0]!.end, 13 + e.value.length);
    }
  }
});

test('one character per chunk', () => {
  for (const e of ENTITIES) {
    const text = `a ${e.value} b ${e.value} c`;
    const { out } = run([...text]);
    assert.equal(out, `a [${e.type}] b [${e.type}] c`);
  }
});

test('a PEM block longer than the bounded window is held from its marker, then masked whole', () => {
  const pem = ENTITIES.find((e) => e.type === 'SECRET_PRIVATE_KEY')!.value;
  const body = pem.replace(/\n-----END/, `\n${'QUJD'.repeat(200)}\n-----END`);
  const { out, t } = run([`x ${body.slice(0, 500)}`, body.slice(500), ' tail']);
  assert.equal(out, 'x [SECRET_PRIVATE_KEY] tail');
  assert.ok(t.maxHeld > 346);
});

test('an unterminated PEM block past its cap masks the rest of the channel', () => {
  const chunks = ['ok -----BEGIN PRIVATE KEY-----\n', 'A'.repeat(300), 'B'.repeat(300), ' more'];
  const { out, t } = run(chunks, 'mask', 400);
  assert.equal(out, 'ok [SECRET_PRIVATE_KEY]');
  assert.equal(t.findings[0]!.rule, 'r-secret_private_key');
});

test('an unterminated PEM block at the end of the channel is masked, not released', () => {
  const { out } = run(['see -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg']);
  assert.equal(out, 'see [SECRET_PRIVATE_KEY]');
});

test('block throws content_blocked naming type and rule, never the value', () => {
  const t = new StreamTransformer({ scanner: standInScanner(), direction: 'response', resolve: resolver('block') });
  const value = 'jane@example.com';
  let released = '';
  assert.throws(
    () => {
      released += t.push(`mail ${value} now`);
      released += t.end();
    },
    (err: unknown) => {
      assert.ok(isGatewayError(err));
      assert.equal(err.code, 'content_blocked');
      assert.match(err.message, /EMAIL_ADDRESS/);
      assert.match(err.message, /r-email_address/);
      assert.ok(!err.message.includes(value));
      return true;
    },
  );
  assert.ok(!released.includes(value));
  assert.throws(() => t.push('more'), /blocked/);
});

test('fail closed: a scanner that throws releases nothing and ends with evaluation_error', () => {
  const t = new StreamTransformer({ scanner: standInScanner({ throwAfter: 0 }), direction: 'response', resolve: resolver('mask') });
  let released = '';
  assert.throws(() => {
    for (let i = 0; i < 100; i++) released += t.push('jane@example.com ');
  }, (err: unknown) => isGatewayError(err) && err.code === 'evaluation_error' && !err.message.includes('crashed'));
  assert.equal(released, '');
  assert.throws(() => t.end(), (err: unknown) => isGatewayError(err) && err.code === 'evaluation_error');
});

test('scans only the window: work per chunk is bounded', () => {
  const scanner = standInScanner();
  const t = new StreamTransformer({ scanner, direction: 'response', resolve: resolver('mask') });
  const chunk = 'lorem ipsum dolor sit amet ';
  const n = 2000;
  for (let i = 0; i < n; i++) t.push(chunk);
  t.end();
  const total = chunk.length * n;
  // Each scan sees at most window + context + one chunk.
  assert.ok(scanner.scanned / scanner.calls <= 346 + 32 + 64 + chunk.length, `${scanner.scanned / scanner.calls}`);
  // Batching releases (minRelease 64) keeps the total near (window + batch) / batch × the text.
  assert.ok(scanner.scanned < total * 8, `${scanner.scanned / total}`);
});

test('redact, flag, tokenize on the request side', () => {
  assert.equal(run(['a jane@example.com b'], 'redact').out, 'a  b');
  assert.equal(run(['a jane@example.com b'], 'flag').out, 'a jane@example.com b');
});

test('releases never split a surrogate pair', () => {
  const text = '\u{1F600}'.repeat(600);
  for (let size = 1; size <= 9; size++) {
    const t = new StreamTransformer({ scanner: standInScanner(), direction: 'response', resolve: resolver('mask'), minRelease: 1 });
    let out = '';
    for (let i = 0; i < text.length; i += size) {
      const r = t.push(text.slice(i, i + size));
      assert.ok(r.length === 0 || !/[\ud800-\udbff]$/.test(r), `size ${size} at ${i}`);
      out += r;
    }
    assert.equal(out + t.end(), text);
  }
});
