/**
 * Generates test/detect/faker-corpus.jsonl, the second evaluation corpus (docs/detection.md#evaluation): customer
 * records, support tickets and log lines in 11 locales, written by @faker-js/faker (exact-pinned devDependency; a
 * different generator from corpus-gen.ts and from the Python Faker behind presidio-research), with labels taken
 * from what the generator inserted. PII (PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, EMAIL_ADDRESS, IP_ADDRESS, US_SSN)
 * sits next to look-alikes that are not PII: street and building numbers, apartments, postal codes, order and
 * invoice numbers, tracking numbers, timestamps, versions, hashes, UUIDs, ISBNs, IMEIs, VINs, account, routing and
 * licence numbers, flight numbers, coordinates and prices.
 *
 * Faker draws phone digits at random in each locale's format, so many of its numbers are in ranges no numbering
 * plan allocates (`+70 …`, UK `027 …`): a phone is kept only when libphonenumber's metadata says the number is
 * valid in its locale's region; the others are re-drawn. That is the only use of the detectors' library here.
 *   node scripts/gen-faker-corpus.ts > test/detect/faker-corpus.jsonl
 */
import { allFakers, type Faker } from '@faker-js/faker';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

const LOCALES: Record<string, CountryCode> = { en_US: 'US', en_GB: 'GB', de: 'DE', fr: 'FR', es: 'ES', it: 'IT', nl: 'NL', pt_BR: 'BR', en_IN: 'IN', en_AU: 'AU', en_CA: 'CA' };
const SAMPLES_PER_LOCALE = 140;
const REF_DATE = new Date('2026-06-01T00:00:00Z');

type Part = string | { type: string; value: string };
interface Span { type: string; start: number; end: number }

function render(parts: Part[]): { text: string; spans: Span[] } {
  let text = '';
  const spans: Span[] = [];
  for (const p of parts) {
    if (typeof p === 'string') text += p;
    else {
      spans.push({ type: p.type, start: text.length, end: text.length + p.value.length });
      text += p.value;
    }
  }
  return { text, spans };
}

function phone(f: Faker, region: CountryCode): string {
  for (;;) {
    const n = f.phone.number({ style: f.helpers.arrayElement(['national', 'human', 'international'] as const) });
    if (parsePhoneNumberFromString(n, region)?.isValid()) return n;
  }
}

function ssn(f: Faker): string {
  const area = f.helpers.arrayElement([f.number.int({ min: 1, max: 665 }), f.number.int({ min: 667, max: 899 })]);
  const s = `${String(area).padStart(3, '0')}-${String(f.number.int({ min: 1, max: 99 })).padStart(2, '0')}-${String(f.number.int({ min: 1, max: 9999 })).padStart(4, '0')}`;
  return f.datatype.boolean(0.2) ? s.replaceAll('-', ' ') : s;
}

const pii = (type: string, value: string): Part => ({ type, value });

/** One look-alike that is not PII (and is not labelled). */
function lookAlike(f: Faker): string {
  return f.helpers.arrayElement([
    () => `Order #${f.string.numeric({ length: { min: 8, max: 12 } })}`,
    () => `invoice ${f.string.numeric(4)}-${f.string.numeric(6)}`,
    () => `tracking 1Z${f.string.alphanumeric({ length: 16, casing: 'upper' })}`,
    () => `updated ${f.date.recent().toISOString()}`,
    () => `ts=${f.date.recent().getTime()}`,
    () => `client v${f.system.semver()}`,
    () => `commit ${f.git.commitSha()}`,
    () => `request id ${f.string.uuid()}`,
    () => `ISBN ${f.commerce.isbn()}`,
    () => `IMEI ${f.phone.imei()}`,
    () => `VIN ${f.vehicle.vin()}`,
    () => `account ${f.finance.accountNumber(10)}`,
    () => `routing ${f.finance.routingNumber()}`,
    () => `driver's license ${f.string.alphanumeric({ length: 1, casing: 'upper' })}${f.string.numeric(7)}`,
    () => `flight ${f.airline.airline().iataCode}${f.airline.flightNumber()}`,
    () => `at ${f.location.latitude()}, ${f.location.longitude()}`,
    () => `total ${f.commerce.price({ min: 100, max: 99999 })}`,
    () => `BIC ${f.finance.bic()}`,
    () => `PIN ${f.finance.pin()}`,
    () => `postcode ${f.location.zipCode()}`,
    () => `bldg ${f.location.buildingNumber()} unit ${f.string.numeric(3)}`,
  ])();
}

function address(f: Faker): string {
  return `${f.location.streetAddress(true)}, ${f.location.city()} ${f.location.zipCode()}`;
}

function sample(f: Faker, region: CountryCode): Part[] {
  const name = f.person.fullName();
  return f.helpers.arrayElement([
    () => [`Customer: ${name}\nAddress: ${address(f)}\nPhone: `, pii('PHONE_NUMBER', phone(f, region)), `\nEmail: `, pii('EMAIL_ADDRESS', f.internet.email()), `\n${lookAlike(f)}`],
    () => [`${name} lives at ${address(f)} and can be reached on `, pii('PHONE_NUMBER', phone(f, region)), `. ${lookAlike(f)}.`],
    () => [`Ship to ${address(f)}. ${lookAlike(f)}; ${lookAlike(f)}.`],
    () => [`Paid with `, pii('CREDIT_CARD', f.finance.creditCardNumber()), ` for ${lookAlike(f)}, delivered to ${address(f)}.`],
    () => [`Please refund to IBAN `, pii('IBAN_CODE', f.finance.iban({ formatted: f.datatype.boolean() })), ` (${name}, ${lookAlike(f)}).`],
    () => [`${f.date.recent().toISOString()} login ok user=`, pii('EMAIL_ADDRESS', f.internet.email()), ` ip=`, pii('IP_ADDRESS', f.datatype.boolean(0.7) ? f.internet.ipv4() : f.internet.ipv6()), ` ${lookAlike(f)}`],
    () => [`Applicant ${name}, SSN `, pii('US_SSN', ssn(f)), `, ${address(f)}, ${lookAlike(f)}.`],
    () => [`Hi, this is ${name} from ${f.location.streetAddress(true)}. My number is `, pii('PHONE_NUMBER', phone(f, region)), ` and ${lookAlike(f)}.`],
    () => [`${lookAlike(f)} | ${lookAlike(f)} | ${address(f)} | ${lookAlike(f)}`],
    () => [`Contact `, pii('PHONE_NUMBER', phone(f, region)), ` or `, pii('EMAIL_ADDRESS', f.internet.email()), ` about ${lookAlike(f)}.`],
  ])();
}

const lines: string[] = [];
for (const [locale, region] of Object.entries(LOCALES)) {
  const f = allFakers[locale as keyof typeof allFakers];
  f.seed(0x16);
  f.setDefaultRefDate(REF_DATE); // dates are relative to it: without it every run differs
  for (let k = 0; k < SAMPLES_PER_LOCALE; k++) lines.push(JSON.stringify(render(sample(f, region))));
}
process.stdout.write(lines.join('\n') + '\n');
