import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileScanner } from '../scanner.ts';
import { AhoCorasick } from './aho-corasick.ts';
import { normalize, toOriginal } from './normalize.ts';
import { fakeCredential } from '../../../test/helpers/fake-credentials.ts';

const scanner = compileScanner();
const found = (text: string) => scanner.scan(text).map((f) => ({ type: f.type, value: text.slice(f.start, f.end) }));
const types = (text: string) => scanner.scan(text).map((f) => f.type);

/** [type, text, value] — the value must be found with exactly that type and span. */
const POSITIVES: readonly [string, string, string][] = [
  ['EMAIL_ADDRESS', 'write to Jane.Doe+tag@mail.example.co.uk today', 'Jane.Doe+tag@mail.example.co.uk'],
  ['CREDIT_CARD', 'visa 4111111111111111.', '4111111111111111'],
  ['CREDIT_CARD', 'mc 5555-5555-5555-4444 ok', '5555-5555-5555-4444'],
  ['CREDIT_CARD', 'amex 3782 822463 10005', '3782 822463 10005'],
  ['CREDIT_CARD', 'dots 6011.1111.1111.1117', '6011.1111.1111.1117'],
  ['CREDIT_CARD', 'card 4242 4242 4242 4242 123 cvc', '4242 4242 4242 4242'],
  ['CREDIT_CARD', 'diners 36227206271667', '36227206271667'],
  ['CREDIT_CARD', 'jcb 3530111333300000', '3530111333300000'],
  ['CREDIT_CARD', 'visa19 4222222222222222224 x', '4222222222222222224'],
  ['IBAN_CODE', 'iban DE89370400440532013000', 'DE89370400440532013000'],
  ['IBAN_CODE', 'iban gb82 west 1234 5698 7654 32 thanks', 'gb82 west 1234 5698 7654 32'],
  ['IBAN_CODE', 'FR14-2004-1010-0505-0001-3M02-606', 'FR14-2004-1010-0505-0001-3M02-606'],
  ['US_SSN', 'ssn 078-05-1120', '078-05-1120'],
  ['US_SSN', 'my ssn is 219099999', '219099999'],
  ['IP_ADDRESS', 'host 10.20.30.40.', '10.20.30.40'],
  ['IP_ADDRESS', 'v6 fe80::1ff:fe23:4567:890a here', 'fe80::1ff:fe23:4567:890a'],
  ['IP_ADDRESS', 'mapped ::ffff:192.0.2.128 here', '::ffff:192.0.2.128'],
  ['MAC_ADDRESS', 'nic 00-1A-2B-3C-4D-5E up', '00-1A-2B-3C-4D-5E'],
  ['MAC_ADDRESS', 'cisco 001a.2b3c.4d5e up', '001a.2b3c.4d5e'],
  ['CRYPTO', 'btc 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy', '3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy'],
  ['CRYPTO', 'bech32m bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297', 'bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297'],
  ['CRYPTO', 'eth wallet 0x52908400098527886E0F7030069857D2E4169EE7', '0x52908400098527886E0F7030069857D2E4169EE7'],
  ['PHONE_NUMBER', 'call me at (415) 555-2671', '(415) 555-2671'],
  ['PHONE_NUMBER', 'office +44 20 7946 0958', '+44 20 7946 0958'],
  ['PHONE_NUMBER', 'Tel. 030 901820 bitte', '030 901820'],
  ['PHONE_NUMBER', 'mobile 06 12 34 56 78', '06 12 34 56 78'],
  ['PHONE_NUMBER', 'fax 1-202-555-0143x123', '1-202-555-0143x123'],
  ['UK_NHS', 'NHS number 943 476 5919', '943 476 5919'],
  ['IN_AADHAAR', 'aadhaar 2345 6789 0124', '2345 6789 0124'],
  ['ES_NIF', 'DNI 12345678Z', '12345678Z'],
  ['ES_NIE', 'NIE X-1234567-L', 'X-1234567-L'],
  ['IT_FISCAL_CODE', 'CF RSSMRA85T10A562S', 'RSSMRA85T10A562S'],
  ['DE_TAX_ID', 'Steuer-ID 86095742719', '86095742719'],
  ['CA_SIN', 'SIN 130 692 544', '130 692 544'],
  ['DATE_OF_BIRTH', 'born on March 3, 1985 in Rome', 'March 3, 1985'],
  ['PASSPORT', 'passport no. C03005988', 'C03005988'],
  ['US_DRIVER_LICENSE', "driver's license number is A56319335", 'A56319335'],
];

const SECRETS: readonly [string, string][] = [
  ['SECRET_OPENAI_KEY', fakeCredential.openaiLong()],
  ['SECRET_ANTHROPIC_KEY', fakeCredential.anthropicLong()],
  ['SECRET_AWS_ACCESS_KEY', fakeCredential.aws()],
  ['SECRET_GCP_API_KEY', fakeCredential.gcp()],
  ['SECRET_GITHUB_TOKEN', fakeCredential.github()],
  ['SECRET_GITHUB_TOKEN', fakeCredential.githubFineGrained()],
  ['SECRET_GITLAB_TOKEN', fakeCredential.gitlab()],
  ['SECRET_SLACK_TOKEN', fakeCredential.slackBot()],
  ['SECRET_SLACK_WEBHOOK', fakeCredential.slackWebhook()],
  ['SECRET_STRIPE_KEY', fakeCredential.stripeLive()],
  ['SECRET_TWILIO_KEY', fakeCredential.twilio()],
  ['SECRET_SENDGRID_KEY', fakeCredential.sendgrid()],
  ['SECRET_NPM_TOKEN', fakeCredential.npm()],
  ['SECRET_PYPI_TOKEN', fakeCredential.pypi()],
  ['SECRET_PORTCULLIS_KEY', fakeCredential.portcullis()],
  ['SECRET_JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'],
];

describe('built-in detectors', () => {
  for (const [type, text, value] of POSITIVES) {
    it(`${type}: ${text}`, () => {
      assert.deepEqual(found(text).filter((f) => f.type === type), [{ type, value }], JSON.stringify(found(text)));
    });
  }
  for (const [type, value] of SECRETS) {
    it(`${type} in prose and in JSON`, () => {
      assert.deepEqual(found(`use ${value} now`), [{ type, value }]);
      assert.deepEqual(found(JSON.stringify({ config: { key: value } })), [{ type, value }]);
    });
  }

  it('look-alikes fail their checks', () => {
    for (const text of [
      'card 4111 1111 1111 1112', // Luhn
      'number 1234567812345670 is not an issued range', // no brand
      'iban DE89370400440532013001', // mod-97
      'iban DE8937040044053201300 short',
            'version 1.2.3.4.5 and 999.1.1.1',
      'uuid 123e4567-e89b-12d3-a456-426614174000',
      'sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709',
      'docs say sk-... or sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'AKIAXXXXXXXXXXXXXXXX placeholder',
      'btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3',
      'api_key = "YOUR_API_KEY_HERE" and password: <password>',
      'the meeting is at 10:30:45 on 2024-01-02',
    ]) assert.deepEqual(found(text), [], text);
    const ssn = 'ssn 666-12-3456 and 900-12-3456 and 123-00-4567 and 123-45-0000';
    assert.ok(!types(ssn).includes('US_SSN'), 'never-issued SSN ranges');
    assert.ok(!types('Deliver to Apt 512 48 9031 Elm Street').includes('US_SSN'), 'a unit and street number after "Apt"');
    assert.ok(types('Deliver to Apt 12, ssn 512 48 9031').includes('US_SSN'), 'an SSN named as such after an address still counts');
  });

  it('a provider key is found however its random part fell (seeded draws of real key shapes)', () => {
    // Placeholders are refused by entropy (see 'look-alikes'); real keys must never be, even short ones from a
    // small alphabet. Seeded, so the draws are the same on every run; the old floor missed 0.35 % of AWS ids.
    let seed = 0x9e3779b9;
    const next = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const draw = (alphabet: string, n: number): string => Array.from({ length: n }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
    const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const shapes: [string, () => string][] = [
      ['SECRET_AWS_ACCESS_KEY', () => `AKIA${draw('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`],
      ['SECRET_TWILIO_KEY', () => `SK${draw('0123456789abcdef', 32)}`],
      ['SECRET_GITHUB_TOKEN', () => `ghp_${draw(ALNUM, 36)}`],
      ['SECRET_OPENAI_KEY', () => `sk-proj-${draw(`${ALNUM}_-`, 20)}`],
    ];
    for (const [type, make] of shapes) {
      const missed: string[] = [];
      for (let i = 0; i < 20_000; i++) {
        const value = make();
        if (!types(`key ${value} here`).includes(type)) missed.push(value);
      }
      assert.deepEqual(missed.slice(0, 3), [], `${type}: ${missed.length} of 20000 random keys missed`);
    }
  });

  it('context words gate weak identifiers', () => {
    assert.deepEqual(types('see 943 476 5919'), ['PHONE_NUMBER'], 'a checksum alone does not make an NHS number');
    assert.deepEqual(types('NHS no 9434765919'), ['UK_NHS']);
    assert.deepEqual(types('on 12/03/1985 we met'), []);
    assert.deepEqual(types('40 chars wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE23'), []);
    assert.deepEqual(types('aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE23'), ['SECRET_AWS_SECRET_KEY']);
    assert.deepEqual(types('AZURE_OPENAI_API_KEY=3f2a9c1b7d6e4f5a8b9c0d1e2f3a4b5c'), ['SECRET_API_KEY']);
  });

  it('credentials in URLs and connection strings report the password only', () => {
    const url = 'postgres://admin:s3cr3t-Pa55@db.internal:5432/app';
    assert.deepEqual(found(url), [{ type: 'SECRET_DATABASE_URL', value: 's3cr3t-Pa55' }]);
    assert.deepEqual(found('Server=tcp:x.database.windows.net;User ID=app;Password=Tr0ub4dor&3;'), [{ type: 'SECRET_DATABASE_URL', value: 'Tr0ub4dor&3' }]);
    const azure = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=' + 'a1B2'.repeat(21) + 'xy==;EndpointSuffix=core.windows.net';
    assert.deepEqual(types(azure), ['SECRET_AZURE_CONNECTION_STRING']);
  });

  it('private keys: whole block, JSON-escaped (service account) and unterminated', () => {
    const pem = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----';
    assert.deepEqual(found(`key:\n${pem}\nthanks`), [{ type: 'SECRET_PRIVATE_KEY', value: pem }]);
    const sa = JSON.stringify({ type: 'service_account', private_key_id: 'a'.repeat(20) + '0123456789abcdef0123', private_key: pem.replace('OPENSSH ', '') });
    assert.deepEqual(types(sa).sort(), ['SECRET_GCP_SERVICE_ACCOUNT', 'SECRET_PRIVATE_KEY']);
    const cut = 'x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nlater text';
    assert.deepEqual(found(cut), [{ type: 'SECRET_PRIVATE_KEY', value: cut.slice(2) }], 'masks the rest rather than leak key lines');
  });

  it('evasion: NFKC, zero-width and bidi characters, full-width digits; offsets are in the original text', () => {
    const text = 'card ４２４２\u200b４２４２\u202e４２４２ ４２４２ and e\u200dmail jane@example.com';
    const f = scanner.scan(text);
    assert.deepEqual(f.map((x) => x.type), ['CREDIT_CARD', 'EMAIL_ADDRESS']);
    assert.equal(text.slice(f[0]!.start, f[0]!.end), '４２４２\u200b４２４２\u202e４２４２ ４２４２');
    assert.equal(text.slice(f[1]!.start, f[1]!.end), 'jane@example.com');
  });

  it('secrets inside base64 and hex blobs', () => {
    const inner = `token=${fakeCredential.github()}`;
    const b64 = Buffer.from(inner).toString('base64');
    const hex = Buffer.from(inner).toString('hex');
    assert.deepEqual(found(`blob ${b64} end`), [{ type: 'SECRET_GITHUB_TOKEN', value: b64 }]);
    assert.deepEqual(found(`hex ${hex} end`), [{ type: 'SECRET_GITHUB_TOKEN', value: hex }]);
    assert.deepEqual(found(`blob ${Buffer.from('just some harmless words here').toString('base64')}`), []);
  });

  it('overlaps: a Luhn card beats a phone reading; the specific secret beats the generic rule', () => {
    assert.deepEqual(types('call 4111 1111 1111 1111'), ['CREDIT_CARD']);
    assert.deepEqual(types('ssn 078-05-1120 phone'), ['US_SSN']);
    const openai = fakeCredential.openaiLong();
    assert.deepEqual(found(`api_key="${openai}"`), [{ type: 'SECRET_OPENAI_KEY', value: openai }]);
  });

  it('every bounded finding fits maxBoundedMatchLength; unbounded ones have start markers', () => {
    const long = 'a'.repeat(64) + '@' + 'b'.repeat(60) + '.' + 'c'.repeat(60) + '.' + 'd'.repeat(60) + '.' + 'e'.repeat(60) + '.' + 'z'.repeat(24);
    const f = scanner.scan(`x ${long} y`);
    assert.equal(f.length, 1);
    assert.ok(f[0]!.end - f[0]!.start <= scanner.maxBoundedMatchLength);
    assert.ok(scanner.maxBoundedMatchLength <= 512, 'the hold-back target');
    assert.deepEqual(scanner.unbounded.map((u) => u.detector).sort(), ['SECRET_JWT', 'SECRET_PRIVATE_KEY']);
  });

  it('pathological inputs finish (no super-linear backtracking)', () => {
    for (const text of [
      'a'.repeat(50_000) + '!',
      '1 '.repeat(20_000),
      '-----BEGIN PRIVATE KEY-----'.repeat(2000),
      'eyJ'.repeat(10_000) + '.',
      'x.eyJ'.repeat(5000),
      ('4' + '-').repeat(20_000),
      'a@'.repeat(20_000),
      'password='.repeat(5000),
      ':'.repeat(30_000) + 'f',
    ]) assert.ok(Array.isArray(scanner.scan(text)));
  });
});

describe('normalize', () => {
  it('maps normalized spans back to the original, including astral and expanding characters', () => {
    const text = '😀ﬁ\u200bx';
    const n = normalize(text);
    assert.equal(n.text, '😀fix');
    assert.deepEqual(toOriginal(n, 2, 4), [2, 3], 'the ligature');
    assert.deepEqual(toOriginal(n, 4, 5), [4, 5], 'x after the removed zero-width space');
    assert.deepEqual(normalize('plain ascii'), { text: 'plain ascii' });
  });
});

describe('Aho–Corasick', () => {
  it('finds every occurrence, overlapping ones included', () => {
    const ac = new AhoCorasick(['he', 'she', 'his', 'hers']);
    const got: string[] = [];
    ac.search('ushers', (m) => got.push(`${m.word}@${m.start}-${m.end}`));
    assert.deepEqual(got.sort(), ['0@2-4', '1@1-4', '3@2-6']);
  });
});
