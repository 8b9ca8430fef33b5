/**
 * National identifiers with check digits (UK NHS, IN Aadhaar, ES NIF/NIE, IT codice fiscale, DE Steuer-ID,
 * CA SIN) and context-gated identifiers without one (date of birth, passport, US driver licence). A check digit
 * alone still passes one random number in 10–23, so the weaker ones need context words to reach the default
 * minimum score (0.5).
 */
import { iso7064Mod11_10, luhn, nhsMod11, verhoeff } from './checksums.ts';
import { runsOfLength } from './starts.ts';
import { patternDetector, type Detector } from './types.ts';

const digitsOf = (s: string): string => s.replace(/[^0-9]/g, '');
// Number patterns begin a run of digits (their lookbehind excludes digits): `starts` tries them only at runs
// at least as long as their first group.

export const ukNhs = patternDetector({
  id: 'uk_nhs',
  minDigits: 10,
  type: 'UK_NHS',
  re: /(?<![0-9.-])[0-9]{3}([ -]?)[0-9]{3}\1[0-9]{4}(?![0-9]|[.-][0-9])/g,
  starts: runsOfLength('digit', 3),
  score: 0.4,
  maxLength: 12,
  context: [{ words: ['nhs', 'national health', 'patient'], boost: 0.6 }],
  validate: (v) => nhsMod11(digitsOf(v)),
});

export const inAadhaar = patternDetector({
  id: 'in_aadhaar',
  minDigits: 12,
  type: 'IN_AADHAAR',
  re: /(?<![0-9.-])[2-9][0-9]{3}([ -]?)[0-9]{4}\1[0-9]{4}(?![0-9]|[.-][0-9])/g,
  starts: runsOfLength('digit', 4),
  score: 0.45,
  maxLength: 14,
  context: [{ words: ['aadhaar', 'aadhar', 'uidai', 'uid'], boost: 0.45 }],
  validate: (v) => verhoeff(digitsOf(v)),
});

const NIF_LETTERS = 'TRWAGMYFPDXBNJZSQVHLCKE';
export const esNif = patternDetector({
  id: 'es_nif',
  minDigits: 8,
  type: 'ES_NIF',
  re: /(?<![A-Za-z0-9])([0-9]{8})-?([A-Za-z])(?![A-Za-z0-9])/g,
  starts: runsOfLength('digit', 8, 8),
  score: 0.7,
  maxLength: 10,
  context: [{ words: ['nif', 'dni', 'documento', 'identidad'], boost: 0.25 }],
  validate: (_v, m) => NIF_LETTERS[Number(m[1]) % 23] === m[2]!.toUpperCase(),
});

export const esNie = patternDetector({
  id: 'es_nie',
  minDigits: 7,
  type: 'ES_NIE',
  re: /(?<![A-Za-z0-9])([XYZxyz])-?([0-9]{7})-?([A-Za-z])(?![A-Za-z0-9])/g,
  score: 0.8,
  maxLength: 11,
  context: [{ words: ['nie', 'extranjero'], boost: 0.15 }],
  validate: (_v, m) => NIF_LETTERS[Number('XYZ'.indexOf(m[1]!.toUpperCase()) + m[2]!) % 23] === m[3]!.toUpperCase(),
});

// Codice fiscale (DM 23/12/1976): odd-position values of the check-character algorithm, digits 0-9 then A-Z.
const CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];
function codiceFiscale(v: string): boolean {
  const s = v.toUpperCase();
  let sum = 0;
  for (let i = 0; i < 15; i++) {
    const c = s.charCodeAt(i);
    const idx = c <= 57 ? c - 48 : c - 55;
    sum += i % 2 === 0 ? CF_ODD[idx]! : c <= 57 ? c - 48 : c - 65;
  }
  return String.fromCharCode(65 + (sum % 26)) === s[15];
}
export const itFiscalCode = patternDetector({
  id: 'it_fiscal_code',
  minDigits: 7,
  type: 'IT_FISCAL_CODE',
  // Omocodia replaces digits with L-V, so digit positions accept those letters too.
  re: /(?<![A-Za-z0-9])[A-Za-z]{6}[0-9LMNP-Vlmnp-v]{2}[A-EHLMPR-Ta-ehlmpr-t][0-9LMNP-Vlmnp-v]{2}[A-Za-z][0-9LMNP-Vlmnp-v]{3}[A-Za-z](?![A-Za-z0-9])/g,
  score: 0.9,
  maxLength: 16,
  // A match is a whole run of exactly 16 letters and digits: try only those.
  starts: runsOfLength('alnum', 16, 16),
  validate: codiceFiscale,
});

/** Steuer-ID: 11 digits, first not 0; in the first ten exactly one digit repeats (2 or 3 times); ISO 7064 check. */
function deTaxId(v: string): boolean {
  const d = digitsOf(v);
  if (d.length !== 11 || d[0] === '0' || !iso7064Mod11_10(d)) return false;
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < 10; i++) counts[d.charCodeAt(i) - 48]!++;
  const repeated = counts.filter((c) => c > 1);
  return repeated.length === 1 && repeated[0]! <= 3;
}
export const deTaxIdDetector = patternDetector({
  id: 'de_tax_id',
  minDigits: 11,
  type: 'DE_TAX_ID',
  re: /(?<![0-9.-])[1-9][0-9]( ?)[0-9]{3}\1[0-9]{3}\1[0-9]{3}(?![0-9]|[.-][0-9])/g,
  starts: runsOfLength('digit', 2),
  score: 0.4,
  maxLength: 14,
  context: [{ words: ['steuer', 'steuerid', 'steuer-id', 'identifikationsnummer', 'idnr', 'tax id', 'tin'], boost: 0.5 }],
  validate: deTaxId,
});

export const caSin = patternDetector({
  id: 'ca_sin',
  minDigits: 9,
  type: 'CA_SIN',
  re: /(?<![0-9.-])[1-79][0-9]{2}([ -]?)[0-9]{3}\1[0-9]{3}(?![0-9]|[.-][0-9])/g,
  starts: runsOfLength('digit', 3),
  score: 0.35,
  maxLength: 11,
  context: [{ words: ['sin', 'social insurance', 'nas', 'assurance sociale'], boost: 0.6 }],
  validate: (v) => luhn(digitsOf(v)),
});

const MONTHS = 'jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?';
export const dateOfBirth = patternDetector({
  id: 'date_of_birth',
  minDigits: 4,
  type: 'DATE_OF_BIRTH',
  re: new RegExp(
    `(?<![0-9])(?:[0-9]{1,2}[/.-][0-9]{1,2}[/.-](?:19|20)?[0-9]{2}|(?:19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}|[0-9]{1,2}(?:st|nd|rd|th)? (?:${MONTHS}),? (?:19|20)[0-9]{2}|(?:${MONTHS}) [0-9]{1,2}(?:st|nd|rd|th)?,? (?:19|20)[0-9]{2})(?![0-9])`,
    'gi',
  ),
  score: 0.2,
  maxLength: 20,
  requires: ['born', 'birth', 'dob', 'd.o.b', 'geboren', 'né', 'nacimiento'],
  context: [{ words: ['born', 'birth', 'dob', 'd.o.b', 'birthday', 'geboren', 'né le', 'née le', 'fecha de nacimiento'], boost: 0.6 }],
});

export const passport = patternDetector({
  id: 'passport',
  minDigits: 6,
  type: 'PASSPORT',
  re: /(?<![A-Za-z0-9])(?:[A-Z]{1,2}[0-9]{6,8}|[0-9]{9})(?![A-Za-z0-9])/g,
  score: 0.1,
  maxLength: 10,
  requires: ['passport', 'passeport', 'reisepass', 'pasaporte'],
  context: [{ words: ['passport', 'passeport', 'reisepass', 'pasaporte'], boost: 0.6 }],
});

export const usDriverLicense = patternDetector({
  id: 'us_driver_license',
  minDigits: 3,
  type: 'US_DRIVER_LICENSE',
  re: /(?<![A-Za-z0-9])(?=[A-Za-z0-9]{0,14}[0-9]{3})[A-Za-z0-9]{5,15}(?![A-Za-z0-9])/g,
  score: 0.05,
  maxLength: 15,
  requires: ['licen'],
  context: [{ words: ["driver's license", 'drivers license', 'driver license', "driver's licence", 'driving licence', 'driving license', 'dl#', 'dl no', 'licence number', 'license number'], boost: 0.75 }],
});

export const ID_DETECTORS: readonly Detector[] = [ukNhs, inAadhaar, esNif, esNie, itFiscalCode, deTaxIdDetector, caSin, dateOfBirth, passport, usDriverLicense];
