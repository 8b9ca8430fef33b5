import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

/**
 * web/console/diff.js (the console's body diff) in Node: the edits rebuild both sides exactly, are minimal on known
 * cases, and hidden-value placeholders stay whole words. The module is the browser's own file, loaded as is.
 */
type Edit = { op: ' ' | '-' | '+'; text: string };
const mod = (await import(String(new URL('../../web/console/diff.js', import.meta.url)))) as {
  diff(a: readonly string[], b: readonly string[]): Edit[];
  words(line: string, atom: RegExp): string[];
};

const side = (e: Edit[], skip: '-' | '+') => e.filter((x) => x.op !== skip).map((x) => x.text);
const changes = (e: Edit[]) => e.filter((x) => x.op !== ' ').length;

describe('console body diff (web/console/diff.js)', () => {
  it('rebuilds both sides for random inputs, with no more changes than needed', () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let i = 0; i < 3000; i++) {
      const a = Array.from({ length: rnd(14) }, () => 'abcd'[rnd(4)]!);
      const b = Array.from({ length: rnd(14) }, () => 'abcd'[rnd(4)]!);
      const e = mod.diff(a, b);
      assert.deepEqual(side(e, '+'), a);
      assert.deepEqual(side(e, '-'), b);
    }
    // Myers' paper's example: ABCABBA → CBABAC in 5 edits (D = 5).
    assert.equal(changes(mod.diff([...'ABCABBA'], [...'CBABAC'])), 5);
    assert.deepEqual(mod.diff(['{', '"a": 1', '}'], ['{', '"a": 2', '}']), [{ op: ' ', text: '{' }, { op: '-', text: '"a": 1' }, { op: '+', text: '"a": 2' }, { op: ' ', text: '}' }]);
  });

  it('splits a line into words, spaces and punctuation, keeping a placeholder whole', () => {
    assert.deepEqual(mod.words('key is \uE0003\uE001, ok', /\uE000\d+\uE001/), ['key', ' ', 'is', ' ', '\uE0003\uE001', ',', ' ', 'ok']);
  });
});
