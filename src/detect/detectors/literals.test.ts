import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LiteralScanner, type Literal } from './literals.ts';
import { indexRuns, occurrences } from './starts.ts';

// The prefilter must answer exactly what one `includes` per literal answered (on the ASCII-lower-cased text
// for case-insensitive literals).
describe('LiteralScanner', () => {
  const literals: Literal[] = [
    { text: 'sk-', caseSensitive: true },
    { text: 'SK', caseSensitive: true },
    { text: 'key', caseSensitive: false },
    { text: 'api_key', caseSensitive: false },
    { text: 'ey', caseSensitive: false },
    { text: 'Upper', caseSensitive: false }, // never found: looked up in lower-cased text
    { text: 'né', caseSensitive: false }, // non-ASCII: left to the caller
    { text: '-----BEGIN', caseSensitive: true },
  ];
  const ls = new LiteralScanner(literals);
  const expected = (text: string) =>
    literals.map((l) => (/[^\x00-\x7f]/.test(l.text) ? false : (l.caseSensitive ? text : text.toLowerCase()).includes(l.text)));

  it('finds each literal like includes does', () => {
    for (const text of ['', 'no literals here', 'my API_KEY is sk-abc', 'Sk- SK', 'KEY', 'a -----BEGIN b', 'UPPER Upper', 'né ÉKey', 'xapi_kex api_key']) {
      const f = ls.scan(text);
      assert.deepEqual([...f.found].map((x) => x === 1), expected(text), text);
    }
  });

  it('agrees with includes on random texts over the literals alphabet', () => {
    const alphabet = 'skSK-eyEYapi_APIBEGIN é-';
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    for (let n = 0; n < 2000; n++) {
      let text = '';
      for (let i = Math.floor(rnd() * 40); i > 0; i--) text += alphabet[Math.floor(rnd() * alphabet.length)];
      assert.deepEqual([...ls.scan(text).found].map((x) => x === 1), expected(text), text);
    }
  });

  it('counts ASCII digits and reports whether the text is ASCII', () => {
    assert.deepEqual({ ...ls.scan('a1b22c333'), found: undefined, runs: undefined, positions: undefined }, { found: undefined, digits: 6, ascii: true, runs: undefined, positions: undefined });
    assert.equal(ls.scan('１2é').digits, 1);
    assert.equal(ls.scan('１2é').ascii, false);
  });

  it('indexes the same character-class runs as starts.ts does alone', () => {
    const alphabet = 'aZ09f+/_-. é:xF';
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    let long = 0;
    for (let n = 0; n < 3000; n++) {
      let text = '';
      for (let i = Math.floor(rnd() * 120); i > 0; i--) {
        // Long runs of one class too, so every kind of run is indexed somewhere.
        text += rnd() < 0.1 ? alphabet[Math.floor(rnd() * 4)]!.repeat(Math.floor(rnd() * 40)) : alphabet[Math.floor(rnd() * alphabet.length)]!;
      }
      const runs = ls.scan(text).runs;
      assert.deepEqual(runs, indexRuns(text), text);
      long += runs.hex.length + runs.b64.length + runs.alnum.length;
    }
    assert.ok(long > 0, 'the random texts hold long runs');
  });

  it('records every start of the leads it is given, as occurrences() finds them, repeated ones included', () => {
    const leads = [
      { words: ['sk-', 'SK', 'sk-ant-'], caseSensitive: true },
      { words: ['api', 'key', 'ey', 'passw'], caseSensitive: false },
    ];
    const withLeads = new LiteralScanner([
      ...literals,
      ...leads.flatMap((l, g) => l.words.map((text) => ({ text, caseSensitive: l.caseSensitive, record: g }))),
    ]);
    const alphabet = 'skSK-eyEYapi_APIantPASSWé ';
    let seed = 5;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    let recorded = 0;
    for (let n = 0; n < 2000; n++) {
      let text = '';
      for (let i = Math.floor(rnd() * 60); i > 0; i--) text += alphabet[Math.floor(rnd() * alphabet.length)];
      const f = withLeads.scan(text);
      leads.forEach((l, g) => assert.deepEqual(f.positions[g] ?? [], occurrences(text, l), `${text} ${l.words.join()}`));
      recorded += (f.positions[0]?.length ?? 0) + (f.positions[1]?.length ?? 0);
      assert.deepEqual([...f.found].slice(0, literals.length).map((x) => x === 1), expected(text), text);
    }
    assert.ok(recorded > 300, `the random texts hold leads (${recorded})`);
    assert.throws(() => new LiteralScanner([{ text: 'Key', caseSensitive: false, record: 0 }]), /cannot be recorded/);
  });

  it('stops at the first non-ASCII character when asked for ASCII only', () => {
    assert.equal(ls.scan('key é', true), undefined);
    assert.equal(ls.scan('key e', true)?.found[2], 1);
  });
});
