/**
 * Payment cards: 12–19 digits, ungrouped or grouped by one kind of separator (space, dash, dot — any grouping:
 * 4-4-4-4, 4-6-5 for Amex, 4-6-4 for Diners, 4-4-4-4-3), in an issuer range of card-ranges.ts with a length that
 * network issues, and Luhn-valid (ISO/IEC 7812-1 Annex B).
 *
 * Scores: a Luhn-valid number of a network's own range is certain (1). One that only fits Maestro's catch-all
 * prefixes (56–59, 63, 67, 6) scores 0.8 with 16 digits and 0.45 (card words needed) with other lengths: many
 * order and account numbers start with 6. UnionPay issued numbers that do not pass Luhn, so a UnionPay-range
 * number (62, 81) failing Luhn scores 0.3: reported only with card words nearby. A label like `order`, `invoice`
 * or `tracking` just before the number (12 characters) lowers the score by 0.6, below the minimum: a number
 * labelled as an order number is one, unless card words are near too (+0.3).
 */
import { iinMatch } from './card-ranges.ts';
import { luhn } from './checksums.ts';
import type { Detector } from './types.ts';

export const CARD_WORDS = ['card', 'credit', 'debit', 'visa', 'mastercard', 'amex', 'maestro', 'unionpay', 'cc', 'cvv', 'cvc', 'expiry', 'payment', 'pan'];
const ID_LABELS = ['order', 'invoice', 'tracking', 'ticket', 'ref', 'reference', 'confirmation', 'booking', 'shipment', 'serial', 'transaction', 'imei', 'iccid', 'isbn', 'ean', 'upc', 'sku'];

/**
 * The widest run is matched, then each shorter prefix ending at a group boundary is tried, so
 * `4242 4242 4242 4242 123` finds the card. A failed run restarts one character later, so a digit run in front
 * cannot hide a card.
 */
const CARD_RE = /(?<![0-9A-Za-z+])[0-9](?:[ .-]?[0-9]){11,18}(?![0-9A-Za-z])/g;

export const card: Detector = {
  id: 'card',
  minDigits: 12,
  types: ['CREDIT_CARD'],
  maxLength: 19 + 18,
  priority: 3,
  context: [{ words: CARD_WORDS, boost: 0.3 }, { words: ID_LABELS, boost: -0.6, window: 12, windowAfter: 0 }],
  find(text, out) {
    CARD_RE.lastIndex = 0;
    for (let m = CARD_RE.exec(text); m; m = CARD_RE.exec(text)) {
      const found = bestCardPrefix(m[0]);
      if (found) {
        out.push({ type: 'CREDIT_CARD', start: m.index, end: m.index + found.end, score: found.score, detector: 'card' });
        CARD_RE.lastIndex = m.index + found.end;
      } else CARD_RE.lastIndex = m.index + 1;
    }
  },
};

function bestCardPrefix(s: string): { end: number; score: number } | undefined {
  const seps = s.replace(/[0-9]/g, '');
  if (seps.length > 0 && !/^(.)\1*$/.test(seps)) return undefined;
  let best: { end: number; score: number } | undefined;
  for (let end = s.length; end >= 12; end--) {
    if (end < s.length && /[0-9]/.test(s[end]!)) continue; // prefixes end before a separator
    const digits = s.slice(0, end).replace(/[^0-9]/g, '');
    if (digits.length < 12) break;
    const score = cardScore(digits);
    if (score > (best?.score ?? 0)) best = { end, score };
    if (score === 1) break;
  }
  return best;
}

/** 0 when the digits are no card number; see the module comment for the scores. */
export function cardScore(digits: string): number {
  if (digits.length > 19 || /^(\d)\1+$/.test(digits)) return 0;
  const iin = iinMatch(digits);
  if (!iin) return 0;
  if (!luhn(digits)) return iin.brand === 'unionpay' && digits.length >= 16 ? 0.3 : 0;
  return iin.broad ? 0.6 : 1;
}
