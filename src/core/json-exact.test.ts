import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRawJson, numberValue, parseJsonExact } from './json-exact.ts';

describe('parseJsonExact', () => {
  const roundTrip = (text: string): string => JSON.stringify(parseJsonExact(text));

  it('keeps numbers a double cannot hold as the client wrote them, through copies and re-serialization', () => {
    for (const n of ['99999999999999999999', '9007199254740993', '-9007199254740993', '1e400', '-1e400', '1e-400', '-0', '-0.0', '-0e3',
      '3.14159265358979323846264338327950288', '0.1000000000000000055511151231257827', '123456789012345678901234567890e-10', '4.9e-324']) {
      const text = `{"max_tokens":${n},"nested":{"a":[1,${n}]}}`;
      const parsed = parseJsonExact(text) as { max_tokens: unknown; nested: { a: unknown[] } };
      assert.ok(isRawJson(parsed.max_tokens) || n === '4.9e-324', n);
      const copy = { ...parsed, model: 'changed', nested: { ...parsed.nested } };
      assert.equal(JSON.stringify(copy), `{"max_tokens":${n},"nested":{"a":[1,${n}]},"model":"changed"}`, n);
    }
  });

  it('leaves numbers a double holds exactly as plain numbers (canonical spelling, same value)', () => {
    for (const [text, value] of [['9007199254740991', 9007199254740991], ['1234567890123456', 1234567890123456], ['0.1', 0.1], ['1.0', 1], ['1E2', 100], ['-0.006929283495992422', -0.006929283495992422], ['0.0000000000000001', 1e-16], ['1.7976931348623157e308', Number.MAX_VALUE]] as const) {
      const parsed = parseJsonExact(`{"x":${text},"pad":"-0.5 2024-01-02"}`) as { x: unknown };
      assert.equal(parsed.x, value, text);
    }
    assert.equal(roundTrip('{"t":0.7,"n":-0.5,"d":"2024-10-02"}'), '{"t":0.7,"n":-0.5,"d":"2024-10-02"}');
  });

  it('finds such numbers wherever JSON puts a value, whitespace included', () => {
    for (const text of ['{"a": \n -0 }', '{"a":[ 99999999999999999999 ]}', '{"a":[1,\t1.5E-400]}', '{"a":{"b":-0.000e+7}}']) {
      assert.equal(roundTrip(text), text.replace(/\s+/g, ''), text);
    }
  });

  it('is JSON.parse for malformed text and strings that only look like numbers', () => {
    assert.throws(() => parseJsonExact('{"a":99999999999999999999'), SyntaxError);
    assert.deepEqual(parseJsonExact('{"id":"12345678901234567890","e":"e100","z":"-0 "}'), { id: '12345678901234567890', e: 'e100', z: '-0 ' });
  });

  it('numberValue reads both forms', () => {
    const p = parseJsonExact('{"a":99999999999999999999,"b":1e400,"c":7,"d":"7"}') as Record<string, unknown>;
    assert.equal(numberValue(p.a), 1e20);
    assert.equal(numberValue(p.b), Infinity);
    assert.equal(numberValue(p.c), 7);
    assert.equal(numberValue(p.d), undefined);
  });
});
