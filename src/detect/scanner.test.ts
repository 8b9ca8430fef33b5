import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileScanner } from './scanner.ts';
import { StreamTransformer } from './stream/transformer.ts';
import { fakeCredential } from '../../test/helpers/fake-credentials.ts';

describe('compileScanner', () => {
  it('selects built-ins by detector id or type, and disables others', () => {
    const s = compileScanner({ builtIns: ['EMAIL_ADDRESS', 'card'], disable: [] });
    assert.deepEqual(s.types, ['CREDIT_CARD', 'EMAIL_ADDRESS']);
    const text = `a@b.io 4111111111111111 ${fakeCredential.aws()}`;
    assert.deepEqual(s.scan(text).map((f) => f.type), ['EMAIL_ADDRESS', 'CREDIT_CARD']);
    const noEmail = compileScanner({ disable: ['EMAIL_ADDRESS'] });
    assert.ok(!noEmail.scan(text).some((f) => f.type === 'EMAIL_ADDRESS'));
    assert.throws(() => compileScanner({ builtIns: ['NOPE'] }), /unknown built-in/);
  });

  it('custom regex with a validator, a capture group and context words', () => {
    const s = compileScanner({
      builtIns: [],
      custom: [
        { kind: 'regex', id: 'emp', type: 'EMPLOYEE_ID', pattern: 'EMP-(\\d{6})', group: 1, score: 0.4, maxLength: 10, context: [{ words: ['employee'], boost: 0.3 }] },
        { kind: 'regex', id: 'acct', type: 'ACCOUNT_CARD', pattern: '\\b\\d{4}[ -]?\\d{4}[ -]?\\d{4}[ -]?\\d{4}\\b', validator: 'luhn', maxLength: 19 },
      ],
    });
    assert.deepEqual(s.scan('EMP-123456').map((f) => f.type), [], 'below the minimum score without context');
    const t = 'employee EMP-123456 paid with 4111-1111-1111-1111, not 4111-1111-1111-1112';
    assert.deepEqual(s.scan(t).map((f) => [f.type, t.slice(f.start, f.end)]), [['EMPLOYEE_ID', '123456'], ['ACCOUNT_CARD', '4111-1111-1111-1111']]);
    assert.equal(s.maxBoundedMatchLength, 19);
  });

  it('a user-supplied ReDoS pattern runs in linear time (RE2 semantics) and finishes', () => {
    const s = compileScanner({ builtIns: [], custom: [{ kind: 'regex', id: 'evil', type: 'EVIL', pattern: '^(a+)+$' }, { kind: 'regex', id: 'evil2', type: 'EVIL2', pattern: '(x+x+)+y' }] });
    const findings = s.scan('a'.repeat(20_000) + '!' + 'x'.repeat(20_000));
    assert.deepEqual(findings, []);
    assert.throws(() => compileScanner({ custom: [{ kind: 'regex', id: 'br', type: 'B', pattern: '(a)\\1' }] }), /invalid pattern/);
    assert.throws(() => compileScanner({ custom: [{ kind: 'regex', id: 'v', type: 'B', pattern: 'a', validator: 'nope' }] }), /unknown validator/);
  });

  it('dictionary detectors: whole words, case-insensitive, many words at once', () => {
    const words = Array.from({ length: 5000 }, (_, i) => `project-${i}`).concat(['Blue Falcon', 'nightjar']);
    const s = compileScanner({ builtIns: [], custom: [{ kind: 'dictionary', id: 'code', type: 'CODENAME', words }] });
    const t = 'Ship BLUE FALCON and project-4999 but not nightjars or xproject-1';
    assert.deepEqual(s.scan(t).map((f) => t.slice(f.start, f.end)), ['BLUE FALCON', 'project-4999']);
    assert.equal(s.maxBoundedMatchLength, 'project-4999'.length);
  });

  it('a higher-scoring custom type wins an overlap with a built-in', () => {
    const s = compileScanner({ custom: [{ kind: 'dictionary', id: 'vip', type: 'VIP_EMAIL', words: ['ceo@example.com'], score: 1 }] });
    assert.deepEqual(s.scan('mail ceo@example.com').map((f) => f.type), ['VIP_EMAIL']);
  });
});

describe('the real scanner in the streaming transformer', () => {
  const scanner = compileScanner();
  const entities = [
    'jane.doe+x@mail.example.co.uk',
    '4111-1111-1111-1111',
    'gb82 west 1234 5698 7654 32',
    fakeCredential.openaiLong(),
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----',
  ];
  for (const value of entities) {
    it(`never releases ${value.slice(0, 12)}… unmasked, split at every position`, () => {
      const text = `before ${value} after`;
      for (let cut = 1; cut < text.length; cut++) {
        const t = new StreamTransformer({ scanner, direction: 'response', resolve: (f) => ({ action: 'mask', rule: `r-${f.type}` }), minRelease: 1 });
        const out = t.push(text.slice(0, cut)) + t.push(text.slice(cut)) + t.end();
        assert.ok(!out.includes(value), `leak at ${cut}: ${out}`);
        assert.ok(out.startsWith('before ') && out.endsWith(' after'), `surroundings kept at ${cut}: ${out}`);
      }
    });
  }

  it('character-by-character delivery of a long text holds back no more than the bound', () => {
    const text = 'x '.repeat(600) + entities.join(' and ') + ' y'.repeat(300);
    const t = new StreamTransformer({ scanner, direction: 'response', resolve: (f) => ({ action: 'mask', rule: f.type }) });
    let out = '';
    for (const ch of text) out += t.push(ch);
    out += t.end();
    for (const v of entities) assert.ok(!out.includes(v));
    assert.deepEqual(scanner.scan(out), [], 'nothing detectable is left in what the client got');
    assert.ok(t.maxHeld < 16384 + 600);
  });
});
