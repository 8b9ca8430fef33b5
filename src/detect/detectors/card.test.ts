import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import creditCardType from 'credit-card-type';
import { compileScanner } from '../scanner.ts';
import { IIN_RANGES, libraryRanges } from './card-ranges.ts';
import { cardScore } from './card.ts';
import { evaluate } from './evaluate.ts';
import { cardCorpus, luhnNumber } from '../../../test/detect/card-corpus.ts';
import { seeded } from '../../../test/detect/seeded.ts';

const scanner = compileScanner();
const cards = (text: string) => scanner.scan(text).filter((f) => f.type === 'CREDIT_CARD').map((f) => text.slice(f.start, f.end));

describe('payment cards', () => {
  it('the table holds every range and length credit-card-type ships', () => {
    for (const type of Object.values(creditCardType.types)) {
      const info = creditCardType.getTypeInfo(type);
      for (const p of info.patterns) {
        const [lo, hi] = Array.isArray(p) ? (p as [number, number]) : [p, p];
        assert.ok(IIN_RANGES.some((r) => r.brand === type && r.lo === lo && r.hi === hi && info.lengths.every((n) => r.lengths.includes(n))), `${type} ${lo}-${hi}`);
      }
    }
    assert.equal(libraryRanges().length, IIN_RANGES.filter((r) => !['rupay', 'uzcard', 'humo', 'borica', 'gpn'].includes(r.brand) && !(r.lengths.length === 1 && (r.lengths[0] === 13 || r.lengths[0] === 15) && (r.brand === 'visa' || r.brand === 'jcb'))).length);
  });

  it('finds every range and length of every network, in every spacing (generated corpus)', () => {
    const r = evaluate(cardCorpus(), (t) => scanner.scan(t), { types: ['CREDIT_CARD'] }).CREDIT_CARD!;
    assert.ok(r.tp >= 500, `enough cards (${r.tp})`);
    assert.ok(r.precision >= 0.99 && r.recall >= 0.99, JSON.stringify(r));
  });

  it('networks beyond the four best known: Troy, Elo, Hipercard, Verve, Mir, UnionPay 15 digits, JCB 15, RuPay', () => {
    const rnd = seeded(7);
    for (const [prefix, length] of [['9792', 16], ['650031', 16], ['606282', 16], ['506099', 19], ['2200', 17], ['6250', 15], ['1800', 15], ['82', 16], ['9860', 16]] as const) {
      const n = luhnNumber(prefix, length, rnd);
      assert.deepEqual(cards(`card ${n} ok`), [n], `${prefix} × ${length}`);
    }
  });

  it('Amex 4-6-5 and Diners 4-6-4 grouping, dots and dashes; a trailing CVV is not part of the number', () => {
    assert.deepEqual(cards('amex 3782 822463 10005 please'), ['3782 822463 10005']);
    assert.deepEqual(cards('diners 3056-930902-5904.'), ['3056-930902-5904']);
    assert.deepEqual(cards('visa 4242.4242.4242.4242 exp'), ['4242.4242.4242.4242']);
    assert.deepEqual(cards('4242 4242 4242 4242 123'), ['4242 4242 4242 4242']);
  });

  it('not cards: Luhn failures, mixed separators, numbers glued to letters or after +, labelled order numbers, timestamps', () => {
    assert.deepEqual(cards('4242 4242 4242 4243'), []);
    assert.deepEqual(cards('4242 4242-4242 4242'), []);
    assert.deepEqual(cards('licence U4242424242424242'), []);
    assert.deepEqual(cards('call +4242424242424242'), []);
    assert.deepEqual(cards('Order #4242424242424242 shipped'), [], 'a number labelled as an order number is one');
    assert.deepEqual(cards('Order #4242424242424242, paid by card'), ['4242424242424242'], 'unless card words are near');
    assert.deepEqual(cards('created 1733450000000 and 20240601123456'), []);
    assert.deepEqual(cards('0000 0000 0000 0000'), []);
  });

  it('UnionPay numbers without a Luhn check count only next to card words', () => {
    const n = '6212345678901234';
    assert.equal(cardScore(n), 0.3);
    assert.deepEqual(cards(`ref ${n}`), []);
    assert.deepEqual(cards(`UnionPay card ${n}`), [n]);
  });

  it('a card number is never also reported as a phone number, nor its prefix', () => {
    const text = 'card number: 5610-1676-1023-60, exp 09/29';
    assert.deepEqual(scanner.scan(text).map((f) => f.type), ['CREDIT_CARD']);
  });
});
