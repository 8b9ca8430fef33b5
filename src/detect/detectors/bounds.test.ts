import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileScanner } from '../scanner.ts';
import { builtInDetectors } from './index.ts';

/**
 * The streaming hold-back covers the longest match a detector declares (`maxLength`): a finding longer than that
 * could straddle the release point of a stream and leak its first part. Widely spaced values are the edge.
 */
const scanner = compileScanner();
const bound = new Map(builtInDetectors().map((d) => [d.id, d.maxLength]));

describe('declared bounds', () => {
  it('no finding is longer than its detector declares, however widely its characters are spaced', () => {
    const texts = [
      'call +1 -4 -1 -5 -5 -5 -5 -2 -6 -7 -1 ext. 123456 now',
      'iban RU02 0 4 4 5 2 5 6 0 0 4 0 7 0 2 8 1 0 4 1 2 3 4 5 6 7 8 9 0 1 now',
      'card 4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1 now',
      'ssn 078-05-1120, ip 192.168.100.200, mac 00-1A-2B-3C-4D-5E',
    ];
    let checked = 0;
    for (const text of texts) {
      for (const f of scanner.scan(text)) {
        checked++;
        assert.ok(f.end - f.start <= bound.get(f.detector)!, `${f.detector}: ${text.slice(f.start, f.end)} (${f.end - f.start} > ${bound.get(f.detector)})`);
      }
    }
    assert.ok(checked >= 6, `findings checked: ${checked}`);
  });
});
