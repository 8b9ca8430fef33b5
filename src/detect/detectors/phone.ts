/**
 * Phone numbers: candidates are digit runs shaped like phone numbers (7–15 digits, optional `+`/`00` prefix,
 * parentheses, separators, extension); each is parsed with libphonenumber-js (Google's metadata) for each
 * configured region, with the "max" metadata (the ranges each numbering plan allocates; docs/detection.md#phones
 * has the measurement against "min"). Valid somewhere scores high; merely possible numbers need context words. A
 * candidate that fails whole is retried on its shorter prefixes at separator boundaries (two numbers in a row).
 * Street and postal numbers, IDs and timestamps look the same to the metadata, so shape and context decide those:
 * other numbers' shapes (NOT_PHONE, card numbers), a street name after the digits, an ID label or address unit
 * before them. Of these only the street name looks at later text, and it can only drop a candidate: a stream can
 * over-mask a house number at a chunk boundary but not leak a phone number.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { cardScore } from './card.ts';
import type { Candidate, Detector } from './types.ts';

export const DEFAULT_PHONE_REGIONS: readonly CountryCode[] = ['US', 'GB', 'DE', 'FR', 'IN', 'NL', 'ES', 'IT', 'CA', 'AU', 'BR'];

const PHONE_RE = /(?<![\w+@/.-])(?:\+|00)?(?:\([0-9]{1,5}\)|[0-9])(?:[ .\/-]{0,2}(?:\([0-9]{1,5}\)|[0-9])){5,16}(?:[ ]?(?:x|ext\.?|#)[ ]?[0-9]{1,6})?(?![\w@]|[.-][0-9])/g;

export const PHONE_CONTEXT = ['phone', 'tel', 'telephone', 'call', 'mobile', 'cell', 'fax', 'office', 'contact', 'reach', 'whatsapp', 'sms', 'dial', 'number', 'reached', 'reachable', 'called', 'calling', 'text me', 'ring', 'landline', 'hotline'];

/**
 * Labels of other numbers (IDs, orders, timestamps): right before a digit run they make it that, not a phone.
 * Address units (`Apt. 722 20 40 …`) likewise: the digits are unit, house and street numbers.
 */
export const PHONE_ID_LABELS = [
  'order', 'invoice', 'account', 'acct', 'routing', 'tracking', 'imei', 'serial', 'isbn', 'vin', 'license', 'licence',
  'dl', 'passport', 'policy', 'member', 'customer id', 'employee', 'ticket', 'ref', 'reference', 'pin', 'ts', 'id',
  'postcode', 'zip', 'postal', 'zip code', 'sku', 'case', 'claim', 'transaction', 'booking', 'confirmation',
];
export const ADDRESS_UNITS = ['apt', 'apartment', 'suite', 'ste', 'unit', 'flat', 'floor', 'fl', 'room', 'bldg', 'building', 'p.o. box', 'po box', 'box', 'no', 'nr', 'house'];

/**
 * A street name right after the digits: `17151 2450 Crown St`, `20 40 rue Victor Hugo`, `36 4022 Oakridge Lane`.
 * Up to three capitalized words then a street type (USPS Publication 28 suffixes and their common continental
 * prefixes). Sticky, tried once at the end of a candidate.
 */
const STREET_AFTER = /[ ,]+(?:(?:rue|avenue|av|boulevard|bd|chemin|allée|place|impasse|quai|via|viale|piazza|corso|vicolo|calle|avenida|av\.|rua|travessa|plaza|paseo|carrer|straße|strasse|str|weg|laan|straat|plein|gracht)\b|(?:\p{Lu}[\p{L}'’.-]*[ ]+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Ter|Crescent|Cres|Close|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Row|Plaza|Loop|Pike|Mews|Gardens|Grove|Hill|Park|Walk|Alley|Crossing|Estate|Falls|Ford|Heights|Manor|Meadows|Mill|Ridge|Springs|Valley|View|Village|Street)\b)/uy;

export function phoneDetector(regions: readonly CountryCode[] = DEFAULT_PHONE_REGIONS): Detector {
  return {
    id: 'phone',
    types: ['PHONE_NUMBER'],
    maxLength: MAX_LENGTH,
    priority: 1,
    minDigits: 7,
    context: [{ words: PHONE_CONTEXT, boost: 0.35 }, { words: PHONE_ID_LABELS, boost: -0.5, window: 16, windowAfter: 0 }, { words: ADDRESS_UNITS, boost: -0.5, window: 8, windowAfter: 0 }],
    find(text, out) {
      PHONE_RE.lastIndex = 0;
      for (let m = PHONE_RE.exec(text); m; m = PHONE_RE.exec(text)) {
        const hit = bestPrefix(m[0], regions);
        STREET_AFTER.lastIndex = m.index + (hit?.end ?? 0);
        if (hit && !STREET_AFTER.test(text)) {
          out.push({ type: 'PHONE_NUMBER', start: m.index, end: m.index + hit.end, score: hit.score, detector: 'phone' });
          PHONE_RE.lastIndex = m.index + hit.end;
        }
        // On failure the scan goes on after the whole run: retrying inside it is quadratic in parses.
      }
    },
  };
}

/**
 * Longest finding, the bound the streaming hold-back relies on. The pattern can match longer runs (two-character
 * separators, one-digit parentheses); only prefixes up to this long are tried. `+1 (415) 555-2671 ext. 123456` is 29.
 */
const MAX_LENGTH = 40;
const EXTENSION = /[ ]?(?:x|ext\.?|#)[ ]?[0-9]{1,6}$/;

/** The whole candidate, else its longest prefixes at separators (at most MAX_TRIES parses per region). */
const MAX_TRIES = 3;
function bestPrefix(s: string, regions: readonly CountryCode[]): { end: number; score: number } | undefined {
  // A Luhn-valid number in a card issuer's range is a card (the card detector reports it), not a phone, nor is
  // any prefix of it.
  if (s[0] !== '+' && cardScore(s.replace(/[^0-9]/g, '')) >= 0.6) return undefined;
  let tries = 0;
  for (let end = s.length; end > 0 && tries < MAX_TRIES; end--) {
    if (end > MAX_LENGTH || (end < s.length && !/[ .\/-]/.test(s[end]!))) continue;
    const v = s.slice(0, end);
    const digits = v.replace(EXTENSION, '').replace(/[^0-9]/g, '').length;
    if (digits < 7) break;
    tries++;
    const score = rate(v, digits, regions);
    if (score > 0) return { end, score };
  }
  return undefined;
}

/**
 * Parsing costs 20–80 µs per region, and chat clients resend the whole conversation every turn: results are
 * cached per candidate string (bounded; cleared when full).
 */
/**
 * Not phone numbers: decimal numbers, dotted quads (IPv4), dates, US ZIP+4 codes (`71996-7018`) and Brazilian CEPs
 * (`01087-717`), IMEIs written
 * the GSMA way (`35-209900-176148-1`), millisecond timestamps (13 digits from 1[0-9]…).
 */
const NOT_PHONE = /^(?:[0-9]{5}-[0-9]{3,4}|[0-9]{2}-[0-9]{6}-[0-9]{6}-[0-9]|1[0-9]{12}|[0-9]+\.[0-9]+|(?:19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}[ T].*|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|(?:19|20)[0-9]{2}[/.-][0-9]{1,2}[/.-][0-9]{1,2}|[0-9]{1,2}[/.-][0-9]{1,2}[/.-](?:19|20)?[0-9]{2})$/;
const rated = new Map<string, number>();
const RATE_CACHE = 4096;

function rate(v: string, digits: number, regions: readonly CountryCode[]): number {
  const key = `${regions.join(',')}|${v}`;
  const hit = rated.get(key);
  if (hit !== undefined) return hit;
  const score = rateUncached(v, digits, regions);
  if (rated.size >= RATE_CACHE) rated.clear();
  rated.set(key, score);
  return score;
}

function rateUncached(v: string, digits: number, regions: readonly CountryCode[]): number {
  // Dotted quads are IPv4 addresses, dates and versions, not phone numbers.
  if (digits > 15 || NOT_PHONE.test(v)) return 0;
  const intl = v.startsWith('+') || v.startsWith('00');
  let possible = false;
  for (const region of intl ? regions.slice(0, 1) : regions) {
    const p = parsePhoneNumberFromString(v.startsWith('00') ? '+' + v.slice(2) : v, region);
    if (!p) continue;
    // An ungrouped national digit run (order and ticket numbers look the same) needs context words.
    if (p.isValid()) return intl ? 0.75 : /[ ().\/-]/.test(v) ? 0.6 : 0.4;
    possible ||= p.isPossible();
  }
  // Not valid anywhere we know: only a number written like one (grouped) and with context words counts.
  const grouped = /[ ().\/-]/.test(v);
  return possible || grouped ? 0.3 : 0;
}

export type { Candidate };
