// Deterministic synthetic prose for the detection benchmark: business English with the numbers real text has
// (years, amounts, percentages, counts, times, versions) and, sparsely, personal data and secrets — about one
// sensitive value per `piiEvery` characters. Seeded: the same arguments give the same text.
import { luhn } from '../src/detect/detectors/checksums.ts';

let seed = 0;
function rnd(): number { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
const digits = (n: number) => Array.from({ length: n }, () => int(0, 9)).join('');

const SUBJECTS = ['The team', 'Our customer', 'The vendor', 'Finance', 'The new release', 'Each region', 'The support desk', 'Management', 'The pilot group', 'The migration', 'Legal', 'The board'];
const VERBS = ['reviewed', 'approved', 'postponed', 'summarised', 'questioned', 'updated', 'shipped', 'escalated', 'measured', 'documented', 'rejected', 'planned'];
const OBJECTS = ['the quarterly report', 'the onboarding checklist', 'the pricing proposal', 'the incident timeline', 'the draft contract', 'the training material', 'the capacity forecast', 'the renewal terms', 'the audit findings', 'the product roadmap', 'the hiring plan', 'the data retention policy'];
const TAILS = ['before the deadline', 'after a long discussion', 'with minor changes', 'for the second time', 'without further comment', 'in the weekly meeting', 'as agreed last month', 'pending a final review', 'despite some concerns', 'ahead of the launch'];
const NUMBERS = [
  () => `in ${int(2015, 2026)}`,
  () => `for $${int(1, 950)},${digits(3)}.${digits(2)}`,
  () => `by ${int(1, 99)}.${int(0, 9)}%`,
  () => `across ${int(2, 480)} accounts`,
  () => `at ${int(7, 18)}:${pick(['00', '15', '30', '45'])}`,
  () => `in version ${int(1, 12)}.${int(0, 30)}.${int(0, 9)}`,
  () => `on ${int(1, 28)} ${pick(['March', 'June', 'October', 'January'])}`,
  () => `within ${int(2, 45)} days`,
];

/** `body` plus the check digit that makes it pass the product's Luhn validator. */
function withLuhn(body: string): string {
  const d = [...'0123456789'].find((x) => luhn(body + x));
  if (d === undefined) throw new Error('unreachable');
  return body + d;
}
const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SENSITIVE = [
  () => `Please contact ${pick(['jane.doe', 'm.rossi', 'ops-team', 'k.tanaka'])}${int(1, 99)}@${pick(['example.com', 'corp.example.org'])} for details.`,
  () => `You can call me on +1 415-555-${digits(4)} after lunch.`,
  () => `The card on file is ${withLuhn(`4${digits(14)}`).replace(/(\d{4})(?=\d)/g, '$1 ')}.`,
  () => 'Payments go to IBAN DE89 3704 0044 0532 0130 00 from now on.',
  () => `The build server at 10.${int(0, 255)}.${int(0, 255)}.${int(1, 254)} was restarted.`,
  () => `Someone pasted the key sk-proj-${Array.from({ length: 40 }, () => pick([...B62])).join('')} into the chat.`,
];

export function prose(chars: number, piiEvery = 4000, seedValue = 0x0b5e55ed): string {
  seed = seedValue;
  const out: string[] = [];
  let len = 0;
  let nextPii = piiEvery / 2;
  while (len < chars) {
    const sentences: string[] = [];
    for (let i = int(3, 7); i > 0; i--) {
      const num = rnd() < 0.35 ? ` ${pick(NUMBERS)()}` : '';
      sentences.push(`${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)}${num} ${pick(TAILS)}.`);
    }
    if (len >= nextPii) {
      sentences.splice(int(0, sentences.length), 0, pick(SENSITIVE)());
      nextPii += piiEvery;
    }
    const para = sentences.join(' ') + '\n\n';
    out.push(para);
    len += para.length;
  }
  return out.join('').slice(0, chars);
}
