/**
 * Generates test/detect/corpus.jsonl: synthetic labelled samples (no real person's data, no live secret) for the
 * precision/recall test. Deterministic (seeded), so the committed file can be regenerated and diffed:
 *   node test/detect/corpus-gen.ts > test/detect/corpus.jsonl
 */
import { luhn } from '../../src/detect/detectors/checksums.ts';
import { seeded } from './seeded.ts';

const { next: rnd, int, pick } = seeded(0x5eed1234);
const chars = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
const DIG = '0123456789';
const UP = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOW = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = UP + LOW + DIG;
const HEX = '0123456789abcdef';
const B64 = ALNUM + '+/';

/** The check digit that makes `body` pass the product's own Luhn validator. */
function luhnDigit(body: string): string {
  const d = [...DIG].find((x) => luhn(body + x));
  if (d === undefined) throw new Error('unreachable');
  return d;
}

function card(): string {
  const [prefix, len, groups] = pick([
    ['4', 16, [4, 4, 4, 4]], ['5' + int(1, 5), 16, [4, 4, 4, 4]], [String(int(2221, 2720)), 16, [4, 4, 4, 4]],
    [pick(['34', '37']), 15, [4, 6, 5]], ['6011', 16, [4, 4, 4, 4]], [String(int(3528, 3589)), 16, [4, 4, 4, 4]], ['36', 14, [4, 6, 4]],
  ] as const);
  const body = prefix + chars(DIG, len - prefix.length - 1);
  const digits = body + luhnDigit(body);
  const sep = pick(['', '', ' ', '-']);
  if (!sep) return digits;
  let out = '';
  let i = 0;
  for (const g of groups) {
    out += (out ? sep : '') + digits.slice(i, i + g);
    i += g;
  }
  return out;
}

function iban(): string {
  const [cc, bban] = pick([
    ['GB', () => chars(UP, 4) + chars(DIG, 14)], ['DE', () => chars(DIG, 18)], ['FR', () => chars(DIG, 23)], ['NL', () => chars(UP, 4) + chars(DIG, 10)], ['ES', () => chars(DIG, 20)],
  ] as const);
  const b = bban();
  const num = (b + cc + '00').replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let rem = 0;
  for (const ch of num) rem = (rem * 10 + Number(ch)) % 97;
  const iban = cc + String(98 - rem).padStart(2, '0') + b;
  const spaced = rnd() < 0.4 ? iban.replace(/(.{4})/g, '$1 ').trim() : iban;
  return rnd() < 0.2 ? spaced.toLowerCase() : spaced;
}

function ssn(): string {
  let area = int(1, 899);
  if (area === 666) area = 667;
  return `${String(area).padStart(3, '0')}-${String(int(1, 99)).padStart(2, '0')}-${String(int(1, 9999)).padStart(4, '0')}`;
}

function phone(): string {
  const area = pick(['201', '212', '213', '305', '312', '415', '510', '617', '646', '702', '713', '818', '917']);
  const ex = String(int(200, 989));
  const line = chars(DIG, 4);
  return pick([
    () => `(${area}) ${ex}-${line}`, () => `${area}-${ex}-${line}`, () => `+1 ${area} ${ex} ${line}`, () => `${area}.${ex}.${line}`,
    () => `+44 20 7${chars(DIG, 3)} ${chars(DIG, 4)}`, () => `020 7${chars(DIG, 3)} ${chars(DIG, 4)}`,
    () => `+49 30 ${chars(DIG, 8)}`, () => `+33 6 ${chars(DIG, 2)} ${chars(DIG, 2)} ${chars(DIG, 2)} ${chars(DIG, 2)}`,
  ])();
}

function ip(): string {
  if (rnd() < 0.6) return [int(1, 223), int(0, 255), int(0, 255), int(1, 254)].join('.');
  const groups = Array.from({ length: 8 }, () => chars(HEX, int(1, 4)).replace(/^0+(?=.)/, ''));
  return rnd() < 0.5 ? groups.join(':') : `${groups.slice(0, 3).join(':')}::${groups.slice(6).join(':')}`;
}

function email(): string {
  return `${pick(['jane', 'john', 'a.smith', 'ops-team', 'x_99', 'maria.garcia'])}${rnd() < 0.5 ? '' : int(1, 999)}@${pick(['example.com', 'mail.example.co.uk', 'corp.example.org', 'test.example.io'])}`;
}

const b64url = (s: string) => Buffer.from(s).toString('base64url');
function jwt(): string {
  return `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: chars(DIG, 8), name: 'Test User', iat: int(1.6e9, 1.8e9) }))}.${chars(ALNUM + '-_', 43)}`;
}

function pem(): string {
  const lines = Array.from({ length: int(3, 8) }, () => chars(B64, 64));
  const kind = pick(['', 'RSA ', 'EC ', 'OPENSSH ']);
  return `-----BEGIN ${kind}PRIVATE KEY-----\n${lines.join('\n')}\n-----END ${kind}PRIVATE KEY-----`;
}

type Gen = () => { value: string; type: string; before?: string };
const SECRETS: Gen[] = [
  () => ({ type: 'SECRET_OPENAI_KEY', value: `sk-proj-${chars(ALNUM + '-_', int(48, 120))}` }),
  () => ({ type: 'SECRET_OPENAI_KEY', value: `sk-${chars(ALNUM, 48)}` }),
  () => ({ type: 'SECRET_ANTHROPIC_KEY', value: `sk-ant-api03-${chars(ALNUM + '-_', 93)}AA` }),
  () => ({ type: 'SECRET_AWS_ACCESS_KEY', value: `AKIA${chars(UP + '234567', 16)}` }),
  () => ({ type: 'SECRET_AWS_SECRET_KEY', value: chars(B64, 40), before: 'aws_secret_access_key = ' }),
  () => ({ type: 'SECRET_GCP_API_KEY', value: `AIza${chars(ALNUM + '-_', 35)}` }),
  () => ({ type: 'SECRET_GITHUB_TOKEN', value: `${pick(['ghp', 'gho', 'ghs'])}_${chars(ALNUM, 36)}` }),
  () => ({ type: 'SECRET_GITHUB_TOKEN', value: `github_pat_${chars(ALNUM, 22)}_${chars(ALNUM, 59)}` }),
  () => ({ type: 'SECRET_GITLAB_TOKEN', value: `glpat-${chars(ALNUM + '-_', 20)}` }),
  () => ({ type: 'SECRET_SLACK_TOKEN', value: `xoxb-${chars(DIG, 12)}-${chars(DIG, 13)}-${chars(ALNUM, 24)}` }),
  () => ({ type: 'SECRET_SLACK_WEBHOOK', value: `https://hooks.slack.com/services/T${chars(UP + DIG, 8)}/B${chars(UP + DIG, 10)}/${chars(ALNUM, 24)}` }),
  () => ({ type: 'SECRET_STRIPE_KEY', value: `sk_live_${chars(ALNUM, int(24, 99))}` }),
  () => ({ type: 'SECRET_TWILIO_KEY', value: `SK${chars(HEX, 32)}` }),
  () => ({ type: 'SECRET_SENDGRID_KEY', value: `SG.${chars(ALNUM + '-_', 22)}.${chars(ALNUM + '-_', 43)}` }),
  () => ({ type: 'SECRET_NPM_TOKEN', value: `npm_${chars(ALNUM, 36)}` }),
  () => ({ type: 'SECRET_PYPI_TOKEN', value: `pypi-AgEIcHlwaS5vcmc${chars(ALNUM + '-_', int(60, 150))}` }),
  () => ({ type: 'SECRET_HUGGINGFACE_TOKEN', value: `hf_${chars(ALNUM, 34)}` }),
  () => ({ type: 'SECRET_PORTCULLIS_KEY', value: `pcl_${chars(LOW + DIG, 8)}_${chars(ALNUM + '-_', 43)}` }),
  () => ({ type: 'SECRET_JWT', value: jwt() }),
  () => ({ type: 'SECRET_PRIVATE_KEY', value: pem() }),
  () => ({ type: 'SECRET_DATABASE_URL', value: chars(ALNUM, int(10, 24)), before: `postgres://app_user:` }),
  () => ({ type: 'SECRET_GENERIC', value: chars(ALNUM, 6) + chars(DIG, 2) + chars(ALNUM, int(8, 24)), before: `${pick(['DB_PASSWORD', 'client_secret', 'api_key', 'AUTH_TOKEN'])}=` }),
  () => ({ type: 'SECRET_GITHUB_TOKEN', value: Buffer.from(`token: ghp_${chars(ALNUM, 36)}`).toString('base64') }),
];

const PII: Record<string, () => string> = { EMAIL_ADDRESS: email, CREDIT_CARD: card, IBAN_CODE: iban, US_SSN: ssn, PHONE_NUMBER: phone, IP_ADDRESS: ip };
const PII_TEMPLATES: Record<string, string[]> = {
  EMAIL_ADDRESS: ['Please write to {} about the invoice.', 'cc: {}', '{"user": {"email": "{}"}}'],
  CREDIT_CARD: ['Charge card {} for the renewal.', 'payment method: {}', '{"card": "{}", "exp": "12/29"}'],
  IBAN_CODE: ['Wire the refund to {} please.', 'IBAN: {}', 'account {} (savings)'],
  US_SSN: ['SSN {} on file', 'social security number: {}', 'her ssn is {}.'],
  PHONE_NUMBER: ['Call me at {} tomorrow.', 'phone: {}', 'Reach the office on {} after 9.'],
  IP_ADDRESS: ['The request came from {} at noon.', 'host={}', 'blocked {} in the firewall'],
};
const SECRET_TEMPLATES = ['export TOKEN={}', 'here is the key: {}', 'config:\n  credential: "{}"\n', '{"auth": "{}"}', 'curl -H "Authorization: Bearer {}" https://api.example.com'];

const NEGATIVES: (() => string)[] = [
  () => `request id ${[8, 4, 4, 4, 12].map((n) => chars(HEX, n)).join('-')}`,
  () => `sha256 ${chars(HEX, 64)}`,
  () => `commit ${chars(HEX, 40)} fixed the build`,
  () => `md5 checksum ${chars(HEX, 32)}`,
  () => 'Set OPENAI_API_KEY=sk-... in your shell',
  () => 'use sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx as a placeholder',
  () => 'api_key: YOUR_API_KEY_HERE',
  () => 'password: ********',
  () => 'const token = await getToken(process.env.GITHUB_TOKEN);',
  () => 'Authorization: Bearer ${TOKEN}',
  () => `version ${int(1, 9)}.${int(0, 20)}.${int(0, 99)} released on ${int(2019, 2026)}-0${int(1, 9)}-1${int(0, 9)}`,
  () => `order ORD-${int(2020, 2026)}-${chars(DIG, 6)} shipped`,
  () => `price ${int(1, 999)}.${chars(DIG, 2)} EUR, qty ${int(1, 50)}`,
  () => `meeting at ${int(10, 23)}:${int(10, 59)} in room ${int(100, 999)}`,
  () => `see https://docs.example.com/guide/${chars(LOW, 8)}?page=${int(1, 9)}`,
  () => 'postgres://localhost:5432/app is the dev database',
  () => `Base64 of a greeting: ${Buffer.from('hello there, general kenobi').toString('base64')}`,
  () => `The quick brown fox ${chars(LOW, 6)} jumps over the lazy dog.`,
  () => `card ending in ${chars(DIG, 4)}`,
  () => `ticket #${chars(DIG, 7)} was closed`,
  () => `ISBN 978-${int(0, 1)}-${chars(DIG, 3)}-${chars(DIG, 5)}-${int(0, 9)}`,
  () => `token_count=${int(100, 99999)} and max_tokens: ${int(16, 4096)}`,
  () => `the function secretSanta(${chars(LOW, 5)}) returns a list`,
  () => `AKIA is the prefix of AWS access key ids`,
  () => `coordinates ${int(10, 80)}.${chars(DIG, 6)}, ${int(10, 170)}.${chars(DIG, 6)}`,
];

function fill(template: string, value: string, before = ''): { text: string; start: number; end: number } {
  const i = template.indexOf('{}');
  const text = template.slice(0, i) + before + value + template.slice(i + 2);
  const start = i + before.length;
  return { text, start, end: start + value.length };
}

const lines: string[] = [];
for (const [type, gen] of Object.entries(PII)) {
  for (let k = 0; k < 60; k++) {
    const f = fill(pick(PII_TEMPLATES[type]!), gen());
    lines.push(JSON.stringify({ text: f.text, spans: [{ type, start: f.start, end: f.end }] }));
  }
}
for (let k = 0; k < 6; k++) {
  for (const g of SECRETS) {
    const s = g();
    const tpl = s.before?.startsWith('postgres') ? '{}@db.internal:5432/app' : pick(SECRET_TEMPLATES);
    const f = fill(tpl, s.value, s.before);
    lines.push(JSON.stringify({ text: f.text, spans: [{ type: s.type, start: f.start, end: f.end }] }));
  }
}
for (let k = 0; k < 12; k++) for (const n of NEGATIVES) lines.push(JSON.stringify({ text: n(), spans: [] }));
process.stdout.write(lines.join('\n') + '\n');
