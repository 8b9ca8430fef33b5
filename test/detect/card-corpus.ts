/**
 * A labelled corpus covering every issuer range and length of every network that Braintree's `credit-card-type`
 * lists (read from the package itself, not from the detector's table), each number made Luhn-valid and checked to
 * be recognised by credit-card-type as that network, written without separators and in the network's own grouping
 * with spaces, dashes and dots; plus look-alike negatives (order and tracking numbers, timestamps, Luhn-invalid
 * numbers, version strings). Deterministic; used by card.test.ts and `npm run eval:detect`.
 */
import creditCardType from 'credit-card-type';
import { luhn } from '../../src/detect/detectors/checksums.ts';
import type { Sample } from '../../src/detect/detectors/evaluate.ts';
import { seeded } from './seeded.ts';

const TEMPLATES = [
  'Please charge my card {} for the renewal.',
  'card number: {}, exp 09/29',
  '{"payment": {"pan": "{}"}}',
  'The customer read out {} over the phone.',
  'Use {} and the usual billing address.',
];

/** A Luhn-valid number of `length` digits starting with `prefix`. */
export function luhnNumber(prefix: string, length: number, rnd: ReturnType<typeof seeded>): string {
  const body = prefix + rnd.digits(length - prefix.length - 1);
  for (let d = 0; d < 10; d++) if (luhn(body + d)) return body + d;
  throw new Error('unreachable');
}

/** `digits` split at the positions in `gaps` (credit-card-type's gaps, e.g. [4, 8, 12]) with `sep`. */
function group(digits: string, gaps: readonly number[], sep: string): string {
  let out = '';
  let from = 0;
  for (const g of [...gaps.filter((x) => x < digits.length), digits.length]) {
    out += (out ? sep : '') + digits.slice(from, g);
    from = g;
  }
  return out;
}

function place(value: string, template: string): Sample {
  const i = template.indexOf('{}');
  return { text: template.slice(0, i) + value + template.slice(i + 2), spans: [{ type: 'CREDIT_CARD', start: i, end: i + value.length }] };
}

export function cardCorpus(seed = 0xca4d): Sample[] {
  const rnd = seeded(seed);
  const out: Sample[] = [];
  for (const type of Object.values(creditCardType.types)) {
    const info = creditCardType.getTypeInfo(type);
    for (const p of info.patterns) {
      const [lo, hi] = Array.isArray(p) ? (p as [number, number]) : [p, p];
      for (const length of info.lengths) {
        for (const head of new Set([lo, hi, rnd.int(lo, hi)])) {
          const digits = luhnNumber(String(head), length, rnd);
          if (!creditCardType(digits).some((c) => c.type === type)) continue; // a narrower brand's sub-range
          const sep = rnd.pick(['', ' ', '-', '.']);
          out.push(place(sep ? group(digits, info.gaps, sep) : digits, rnd.pick(TEMPLATES)));
        }
      }
    }
  }
  for (let k = 0; k < 200; k++) out.push({ text: negative(rnd), spans: [] });
  return out;
}

/** Digit runs that are not cards: IDs after their label, timestamps, versions, numbers failing Luhn. */
function negative(rnd: ReturnType<typeof seeded>): string {
  const bad = () => {
    const n = luhnNumber(rnd.pick(['4', '51', '37', '6011', '35']), 16, rnd);
    return n.slice(0, -1) + ((Number(n.at(-1)) + 1) % 10);
  };
  return rnd.pick([
    () => `Order #${rnd.digits(12)} has shipped.`,
    () => `Invoice ${rnd.digits(rnd.int(12, 16))} is due on 2025-03-01.`,
    () => `tracking number ${rnd.pick(['1Z', '94'])}${rnd.digits(18)}`,
    () => `created_at=${rnd.int(1600000000000, 1799999999999)} updated ${rnd.int(1600000000, 1799999999)}`,
    () => `at 2024-${String(rnd.int(1, 12)).padStart(2, '0')}-${String(rnd.int(1, 28)).padStart(2, '0')} ${rnd.digits(2)}:${rnd.digits(2)}:${rnd.digits(2)}.${rnd.digits(6)}`,
    () => `card ${bad()} was declined (typo)`,
    () => `version 10.${rnd.int(0, 20)}.${rnd.int(0, 99)}.${rnd.digits(6)}`,
    () => `Amazon order ${rnd.digits(3)}-${rnd.digits(7)}-${rnd.digits(7)}`,
    () => `IMEI ${luhnNumber('35', 15, rnd)} is blocked`,
  ])();
}
