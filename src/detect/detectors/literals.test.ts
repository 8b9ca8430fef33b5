import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LiteralScanner, type Literal } from './literals.ts';

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
    assert.deepEqual({ ...ls.scan('a1b22c333'), found: undefined }, { found: undefined, digits: 6, ascii: true });
    assert.equal(ls.scan('１2é').digits, 1);
    assert.equal(ls.scan('１2é').ascii, false);
  });
});
