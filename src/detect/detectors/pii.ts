/**
 * Built-in PII detectors: email, IBAN, US SSN, IP addresses, MAC addresses, crypto addresses.
 * Entity names follow Presidio's. Every pattern is a sequence of bounded runs (linear time); the validators do
 * the real work (mod-97, invalid SSN ranges, bech32/base58check).
 */
import { isIPv6 } from 'node:net';
import { base58check, bech32, ibanMod97 } from './checksums.ts';
import { ALNUM, anchoredStarts, charClass, digitRunStarts, eachMatchAt, HEX, runBefore, runsOfLength, sticky, type Starts } from './starts.ts';
import { patternDetector, type Candidate, type Detector } from './types.ts';

// RFC 5321 §4.5.3.1: local part ≤ 64; the domain is bounded to 4 labels + TLD here (≤ 160 characters).
export const email = patternDetector({
  id: 'email',
  anchors: ['@'],
  type: 'EMAIL_ADDRESS',
  re: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.){1,4}[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
  score: 1,
  maxLength: 64 + 1 + 4 * 63 + 24,
  starts: emailStarts(),
  validate: (v) => !v.includes('..'),
});

/** A match begins the run of local-part characters before its '@' (1–64 long, first one a letter or digit). */
export function emailStarts(): Starts {
  const local = charClass('A-Za-z0-9._%+-');
  return anchoredStarts('@', (text, at) => {
    const start = runBefore(local, text, at);
    const first = text.charCodeAt(start);
    return at - start >= 1 && at - start <= 64 && first < 128 && ALNUM[first] === 1 ? start : -1;
  });
}

/** ISO 13616 registry: IBAN length per country. */
const IBAN_LENGTH: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30,
  KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20,
  MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22,
  RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
  // Not (yet) in the registry but issued by banks there ("partial" IBAN countries, SWIFT IBAN Registry Annex
  // and national bank publications); mod-97 keeps them as precise as the others.
  AO: 25, BF: 28, BJ: 28, CF: 27, CG: 27, CI: 28, CM: 27, CV: 25, DZ: 26, GA: 27, GQ: 27, GW: 25, IR: 26, KM: 27,
  MA: 28, MG: 27, ML: 28, MZ: 25, NE: 28, SN: 28, TD: 27, TG: 28,
};

/** IBAN in print (groups of four, spaces or dashes) or electronic form, any case. */
const IBAN_RE = sticky(/(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?:[ -]?[A-Za-z0-9]){11,30}/g);
// The check digits follow the two letters of the country code, so they begin a digit run: tried only there.
export const IBAN_STARTS = digitRunStarts(2, (text, at) => (at >= 2 && isAsciiLetter(text.charCodeAt(at - 1)) && isAsciiLetter(text.charCodeAt(at - 2)) ? at - 2 : -1));
function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
export const iban: Detector = {
  id: 'iban',
  minDigits: 6,
  types: ['IBAN_CODE'],
  // Up to 34 characters with a separator between any two: the longest match the loop below can accept.
  maxLength: 34 + 33,
  priority: 3,
  find(text, out) {
    eachMatchAt(IBAN_RE, IBAN_STARTS, text, (m) => {
      const s = m[0];
      const want = IBAN_LENGTH[s.slice(0, 2).toUpperCase()];
      IBAN_RE.lastIndex = m.index + 1;
      if (want === undefined) return;
      let count = 0;
      let end = 0;
      for (let i = 0; i < s.length && count < want; i++) {
        if (s[i] !== ' ' && s[i] !== '-') count++;
        end = i + 1;
      }
      if (count < want) return;
      const next = text[m.index + end];
      if (next !== undefined && /[A-Za-z0-9]/.test(next)) return;
      const compact = s.slice(0, end).replace(/[ -]/g, '');
      if (!ibanMod97(compact)) return;
      out.push({ type: 'IBAN_CODE', start: m.index, end: m.index + end, score: 1, detector: 'iban' });
      IBAN_RE.lastIndex = m.index + end;
    });
  },
};

/** US SSN (SSA): area 000, 666 and 900–999, group 00 and serial 0000 were never issued. */
export const usSsn = patternDetector({
  id: 'us_ssn',
  minDigits: 9,
  type: 'US_SSN',
  re: /(?<![0-9.-])([0-9]{3})([ .-]?)([0-9]{2})\2([0-9]{4})(?![0-9]|[.-][0-9])/g,
  starts: runsOfLength('digit', 3), // begins a digit run of 3 (grouped) or 9
  score: 0.85,
  maxLength: 11,
  priority: 2,
  // Nine digits right after an address unit are a unit and street number, not an SSN ("Suite 680 36 4022 …").
  context: [{ words: ['ssn', 'social security', 'ss#', 'ss #', 'taxpayer'], boost: 0.3 }, { words: ['suite', 'apt', 'apartment', 'unit', 'floor', 'p.o. box', 'po box'], boost: -0.5, window: 12 }],
  validate: (_v, m) => {
    const area = Number(m[1]);
    if (area === 0 || area === 666 || area >= 900 || m[3] === '00' || m[4] === '0000') return false;
    if (/^(\d)\1+$/.test(m[1]! + m[3]! + m[4]!) || m[1]! + m[3]! + m[4]! === '123456789') return false;
    return m[2] === '' ? 0.4 : 0.85;
  },
});

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
export const ipv4 = patternDetector({
  id: 'ipv4',
  anchors: ['.'],
  minDigits: 4,
  type: 'IP_ADDRESS',
  re: new RegExp(`(?<![0-9.])${OCTET}(?:\\.${OCTET}){3}(?![0-9]|\\.[0-9])`, 'g'),
  score: 0.85,
  maxLength: 15,
  context: [{ words: ['version', 'v.', 'release'], boost: -0.4, window: 16 }],
});

const IPV6_RE = /(?<![A-Za-z0-9_:.])(?=[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{3,45}(?![A-Za-z0-9_:])/y;
// A match begins the run of 0–4 hex digits before a ':' (the lookbehind excludes hex digits before it).
export const IPV6_STARTS = anchoredStarts(':', (text, at) => {
  const start = runBefore(HEX, text, at);
  return at - start <= 4 ? start : -1;
});
export const ipv6: Detector = {
  id: 'ipv6',
  anchors: [':'],
  types: ['IP_ADDRESS'],
  maxLength: 45,
  find(text, out) {
    eachMatchAt(IPV6_RE, IPV6_STARTS, text, (m) => {
      let v = m[0];
      if (v.endsWith('.')) v = v.slice(0, -1);
      const colons = v.split(':').length - 1;
      if (colons < 2 || v.replace(/[^0-9A-Fa-f]/g, '').length < 2 || !isIPv6(v)) return;
      out.push({ type: 'IP_ADDRESS', start: m.index, end: m.index + v.length, score: 0.85, detector: 'ipv6' });
    });
  },
};

export const mac = patternDetector({
  id: 'mac',
  minDigits: 1,
  type: 'MAC_ADDRESS',
  re: /(?<![0-9A-Fa-f:.-])(?:[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![0-9A-Fa-f:-]|\.[0-9A-Fa-f])/g,
  score: 0.8,
  maxLength: 17,
  starts: macStarts(),
});

/**
 * A MAC match begins a run of exactly two hex digits followed by ':' or '-', or four followed by '.' (its
 * lookbehind excludes hex digits before it): found from the separators, which are rare in prose.
 */
export function macStarts(): Starts {
  // The next of each separator, by indexOf (native, no match object per separator: '.' and '-' are common in prose).
  const next = (text: string, sep: string, from: number) => {
    const at = text.indexOf(sep, from);
    return at < 0 ? Infinity : at;
  };
  return (text, from) => {
    let colon = next(text, ':', from);
    let dot = next(text, '.', from);
    let dash = next(text, '-', from);
    for (;;) {
      const at = Math.min(colon, dot, dash);
      if (at === Infinity) return -1;
      // A hex digit follows every separator of a match: most '.' and '-' in prose are followed by a space or a
      // letter past f, and are passed over without looking back.
      if (isHex(text.charCodeAt(at + 1))) {
        const start = runBefore(HEX, text, at);
        if (start >= from && at - start === (at === dot ? 4 : 2)) return start;
      }
      if (at === colon) colon = next(text, ':', at + 1);
      else if (at === dot) dot = next(text, '.', at + 1);
      else dash = next(text, '-', at + 1);
    }
  };
}

function isHex(c: number): boolean {
  return c < 128 && HEX[c] === 1;
}

// Each address is a whole run of letters and digits of a known length range: tried only at such runs.
const BASE58_RE = sticky(/(?<![A-Za-z0-9])[13mn2][1-9A-HJ-NP-Za-km-z]{25,34}(?![A-Za-z0-9])/g);
export const BASE58_STARTS = runsOfLength('alnum', 26, 35, (text, at) => '13mn2'.includes(text[at]!));
const BECH32_RE = sticky(/(?<![A-Za-z0-9])(?:bc1|tb1|ltc1|BC1|TB1)[02-9AC-HJ-NP-Zac-hj-np-z]{6,86}(?![A-Za-z0-9])/g);
// The `1` after the human-readable part follows a letter, so it begins a digit run: tried only where one does.
export const BECH32_STARTS = digitRunStarts(1, (text, at) => {
  if (text.charCodeAt(at) !== 49 || at < 2) return -1;
  const hrp2 = text.slice(at - 2, at);
  if (hrp2 === 'bc' || hrp2 === 'tb' || hrp2 === 'BC' || hrp2 === 'TB') return at - 2;
  return at >= 3 && text.startsWith('ltc', at - 3) ? at - 3 : -1;
});
const ETH_RE = sticky(/(?<![A-Za-z0-9])0x[0-9a-fA-F]{40}(?![A-Za-z0-9])/g);
export const ETH_STARTS = runsOfLength('alnum', 42, 42, (text, at) => text.startsWith('0x', at));

/** Bitcoin-family addresses: legacy/P2SH Base58Check and segwit bech32/bech32m; Ethereum by shape and case. */
export const crypto: Detector = {
  id: 'crypto',
  types: ['CRYPTO'],
  maxLength: 90,
  priority: 2,
  find(text, out) {
    const push = (start: number, end: number, score: number) => out.push({ type: 'CRYPTO', start, end, score, detector: 'crypto' });
    eachMatchAt(BASE58_RE, BASE58_STARTS, text, (m) => {
      if (base58check(m[0])) push(m.index, m.index + m[0].length, 1);
    });
    eachMatchAt(BECH32_RE, BECH32_STARTS, text, (m) => {
      if (bech32(m[0])) push(m.index, m.index + m[0].length, 1);
    });
    eachMatchAt(ETH_RE, ETH_STARTS, text, (m) => {
      const hex = m[0].slice(2);
      // EIP-55 mixed case is a strong signal; all one case could be any 160-bit hash.
      const mixed = hex !== hex.toLowerCase() && hex !== hex.toUpperCase();
      push(m.index, m.index + m[0].length, mixed ? 0.8 : 0.45);
    });
  },
  context: [{ words: ['wallet', 'bitcoin', 'btc', 'eth', 'ethereum', 'address', 'crypto', 'send to'], boost: 0.3 }],
};

export type { Candidate };
