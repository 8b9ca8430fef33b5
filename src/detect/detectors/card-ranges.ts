/**
 * Payment card issuer identification numbers (ISO/IEC 7812) and lengths per network, from the list Braintree
 * maintains in `credit-card-type` (npm, exact-pinned 10.3.0, `dist/lib/card-types.js`: Visa, Mastercard, American
 * Express, Diners Club, Discover, Troy, JCB, UnionPay, Naranja, Verve, Maestro, Elo, Mir, Hiper, Hipercard), read
 * once at module load, plus the ranges and lengths that list leaves out (SUPPLEMENT, each with its source).
 * Upgrading the package updates the table; card-ranges.test.ts checks every range of the package is covered.
 */
import creditCardType from 'credit-card-type';

export interface IinRange {
  readonly brand: string;
  /** Inclusive bounds of the first `digits` digits of the number. */
  readonly lo: number;
  readonly hi: number;
  readonly digits: number;
  readonly lengths: readonly number[];
  /** True for the catch-all prefixes of Maestro (56–59, 63, 67, 6): many order numbers start like that. */
  readonly broad?: boolean;
}

/**
 * Ranges and lengths missing from credit-card-type 10.3.0:
 * - Visa 13 digits: older Visa cards (Visa's "Visa Core Rules": PANs of 13 to 19 digits; issued until the 2000s).
 * - JCB 15 digits on 1800 and 2131 (JCB's original 15-digit ranges).
 * - RuPay 82 (NPCI; its other prefixes 60, 65, 81, 508, 353, 356 are covered above), 16 digits.
 * - UzCard 8600 and Humo 9860 (Uzbekistan), BORICA 2205 (Bulgaria), GPN 1946 (Indonesia): 16 digits.
 * Left out on purpose: UATP (prefix 1, 15 digits) — every Luhn-valid 15-digit number starting with 1 would be a
 * "card", and airline travel accounts are rarely pasted into prompts.
 */
const SUPPLEMENT: readonly IinRange[] = [
  { brand: 'visa', lo: 4, hi: 4, digits: 1, lengths: [13] },
  { brand: 'jcb', lo: 1800, hi: 1800, digits: 4, lengths: [15] },
  { brand: 'jcb', lo: 2131, hi: 2131, digits: 4, lengths: [15] },
  { brand: 'rupay', lo: 82, hi: 82, digits: 2, lengths: [16] },
  { brand: 'uzcard', lo: 8600, hi: 8600, digits: 4, lengths: [16] },
  { brand: 'humo', lo: 9860, hi: 9860, digits: 4, lengths: [16] },
  { brand: 'borica', lo: 2205, hi: 2205, digits: 4, lengths: [16] },
  { brand: 'gpn', lo: 1946, hi: 1946, digits: 4, lengths: [16] },
];

/** Every range of credit-card-type, as shipped (its patterns are single prefixes or [lo, hi] of equal width). */
export function libraryRanges(): IinRange[] {
  const out: IinRange[] = [];
  for (const type of Object.values(creditCardType.types)) {
    const info = creditCardType.getTypeInfo(type);
    for (const p of info.patterns) {
      const [lo, hi] = Array.isArray(p) ? (p as [number, number]) : [p, p];
      const digits = String(lo).length;
      if (String(hi).length !== digits) throw new TypeError(`credit-card-type range ${lo}-${hi} of ${type} has unequal widths`);
      out.push({ brand: type, lo, hi, digits, lengths: info.lengths, ...(type === 'maestro' && digits <= 2 ? { broad: true } : {}) });
    }
  }
  return out;
}

export const IIN_RANGES: readonly IinRange[] = [...libraryRanges(), ...SUPPLEMENT];

/** Ranges by first digit of the number: a candidate is compared with a few dozen ranges, not all. */
const BY_FIRST: readonly IinRange[][] = Array.from({ length: 10 }, (_, d) => IIN_RANGES.filter((r) => String(r.lo)[0] === String(d)));

export interface IinMatch {
  readonly brand: string;
  /** Only a catch-all Maestro prefix matched. */
  readonly broad: boolean;
}

/** The issuer a digit string (no separators) belongs to, given its length, or undefined. */
export function iinMatch(digits: string): IinMatch | undefined {
  const n = digits.length;
  let broad: IinMatch | undefined;
  for (const r of BY_FIRST[digits.charCodeAt(0) - 48] ?? []) {
    if (!r.lengths.includes(n)) continue;
    const head = Number(digits.slice(0, r.digits));
    if (head < r.lo || head > r.hi) continue;
    if (!r.broad) return { brand: r.brand, broad: false };
    broad ??= { brand: r.brand, broad: true };
  }
  return broad;
}
