import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE58_STARTS, BECH32_STARTS, emailStarts, ETH_STARTS, IBAN_STARTS, IPV6_STARTS, macStarts } from './pii.ts';
import { eachMatchAt, leadStarts, runsOfLength, sticky, type Starts } from './starts.ts';
import { eachMatch } from './types.ts';

// Candidate starts must never skip a match: the sticky regex tried at the candidates finds exactly what the
// global regex finds. Checked on random texts built from the pieces these patterns are made of.
const CASES: [string, RegExp, Starts][] = [
  ['email', /(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.){1,4}[A-Za-z]{2,24}(?![A-Za-z0-9-])/g, emailStarts()],
  ['mac', /(?<![0-9A-Fa-f:.-])(?:[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![0-9A-Fa-f:-]|\.[0-9A-Fa-f])/g, macStarts()],
  ['ipv6', /(?<![A-Za-z0-9_:.])(?=[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{3,45}(?![A-Za-z0-9_:])/g, IPV6_STARTS],
  ['base64', /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,344}={0,2}/g, runsOfLength('b64', 24)],
  ['hex', /(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,172}(?![0-9A-Fa-f])/g, runsOfLength('hex', 32)],
  ['fiscal', /(?<![A-Za-z0-9])[A-Za-z]{6}[0-9LMNP-Vlmnp-v]{2}[A-EHLMPR-Ta-ehlmpr-t][0-9LMNP-Vlmnp-v]{2}[A-Za-z][0-9LMNP-Vlmnp-v]{3}[A-Za-z](?![A-Za-z0-9])/g, runsOfLength('alnum', 16, 16)],
  ['base58', /(?<![A-Za-z0-9])[13mn2][1-9A-HJ-NP-Za-km-z]{25,34}(?![A-Za-z0-9])/g, BASE58_STARTS],
  ['bech32', /(?<![A-Za-z0-9])(?:bc1|tb1|ltc1|BC1|TB1)[02-9AC-HJ-NP-Zac-hj-np-z]{6,86}(?![A-Za-z0-9])/g, BECH32_STARTS],
  ['us_ssn', /(?<![0-9.-])([0-9]{3})([ .-]?)([0-9]{2})\2([0-9]{4})(?![0-9]|[.-][0-9])/g, runsOfLength('digit', 3)],
  ['uk_nhs', /(?<![0-9.-])[0-9]{3}([ -]?)[0-9]{3}\1[0-9]{4}(?![0-9]|[.-][0-9])/g, runsOfLength('digit', 3)],
  ['in_aadhaar', /(?<![0-9.-])[2-9][0-9]{3}([ -]?)[0-9]{4}\1[0-9]{4}(?![0-9]|[.-][0-9])/g, runsOfLength('digit', 4)],
  ['es_nif', /(?<![A-Za-z0-9])([0-9]{8})-?([A-Za-z])(?![A-Za-z0-9])/g, runsOfLength('digit', 8, 8)],
  ['de_tax_id', /(?<![0-9.-])[1-9][0-9]( ?)[0-9]{3}\1[0-9]{3}\1[0-9]{3}(?![0-9]|[.-][0-9])/g, runsOfLength('digit', 2)],
  ['ca_sin', /(?<![0-9.-])[1-79][0-9]{2}([ -]?)[0-9]{3}\1[0-9]{3}(?![0-9]|[.-][0-9])/g, runsOfLength('digit', 3)],
  ['eth', /(?<![A-Za-z0-9])0x[0-9a-fA-F]{40}(?![A-Za-z0-9])/g, ETH_STARTS],
  ['iban', /(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?:[ -]?[A-Za-z0-9]){11,30}/g, IBAN_STARTS],
  // Leads: the prefilter's recorded occurrences in a scan, indexOf here (the equality of the two is literals.test.ts's).
  ['secret.generic', /(secret|token|passw(?:or)?d|pwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credential|auth)[A-Za-z0-9_.-]{0,24}["']?\s{0,3}(?::=|=>|[:=])\s{0,3}["'`]?([^\s"'`,;=]{8,128}={0,2})/gi,
    leadStarts({ words: ['secret', 'token', 'passw', 'pwd', 'api', 'access', 'private', 'client', 'credential', 'auth'], caseSensitive: false })],
  ['secret.openai', /(?<![A-Za-z0-9_-])sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,200}(?![A-Za-z0-9_-])/g, leadStarts({ words: ['sk-'], caseSensitive: true })],
  ['secret.twilio', /(?<![A-Za-z0-9_-])SK[0-9a-fA-F]{32}(?![A-Za-z0-9_-])/g, leadStarts({ words: ['SK'], caseSensitive: true })],
];

let seed = 11;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
const pick = (s: string | readonly string[]) => s[Math.floor(rnd() * s.length)]!;
const run = (alphabet: string, n: number) => Array.from({ length: n }, () => pick(alphabet)).join('');
const PIECES: (() => string)[] = [
  () => run('0123456789', 1 + Math.floor(rnd() * 12)),
  () => [2, 3, 4].map((k) => run('0123456789', k)).join(pick(' -.')),
  () => `${run('0123456789', 8)}${pick('-aZ ')}`,
  () => run('0123456789abcdefABCDEF', 1 + Math.floor(rnd() * 40)),
  () => run('0123456789abcdef', 2 + 2 * Math.floor(rnd() * 2)),
  () => pick(':-.@ +/=_'),
  () => run('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 1 + Math.floor(rnd() * 45)),
  () => `${pick('13mn2')}${run('123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz', 24 + Math.floor(rnd() * 12))}`,
  () => `${['bc1', 'tb1', 'ltc1', 'BC1'][Math.floor(rnd() * 4)]!}${run('023456789acdefghjklmnpqrstuvwxyz', 5 + Math.floor(rnd() * 20))}`,
  () => `0x${run('0123456789abcdefABCDEF', 39 + Math.floor(rnd() * 3))}`,
  () => `${run('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 6)}${run('0123456789LMNPQRSTUV', 2)}${pick('ABCDEHLMPRST')}${run('0123456789', 2)}${pick('ABZ')}${run('0123456789', 3)}${pick('ABZ')}`,
  () => `${run('ABCDEFGHIJKLMNOPQRSTUVWXYZabc', 2)}${run('0123456789', 2)}${Array.from({ length: 3 + Math.floor(rnd() * 5) }, () => run('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ', 4)).join(pick(' -'))}`,
  () => `${['secret', 'Token', 'PASSWORD', 'pwd', 'api_key', 'apikey', 'access-key', 'private_key', 'client_secret', 'credential', 'auth', 'AUTH'][Math.floor(rnd() * 12)]!}${pick(['', '_x', '.v2'])}${pick(['=', ': ', ' := ', '=>', '"="'])}${pick(['', '"', "'"])}${run('abcXYZ0123456789+/', 4 + Math.floor(rnd() * 20))}`,
  () => `SK${run('0123456789abcdefABCDEF', 31 + Math.floor(rnd() * 3))}`,
  () => `${pick(['sk-', 'sk-proj-', 'SK', 'sk-ant-', 'risk-'])}${run('0123456789abcdefABCDEF_-', 18 + Math.floor(rnd() * 20))}`,
  () => ['a.b', 'x@y.io', 'jane.doe@example.com', '::1', 'fe80::1', '2001:db8::8a2e:370:7334', '00:1A:2b:3c:4D:5e', '001a.2b3c.4d5e'][Math.floor(rnd() * 8)]!,
];

function viaGlobal(re: RegExp, text: string): string[] {
  const got: string[] = [];
  eachMatch(re, text, (m) => got.push(`${m.index}:${m[0]}`));
  return got;
}
function viaStarts(re: RegExp, starts: Starts, text: string): string[] {
  const got: string[] = [];
  eachMatchAt(re, starts, text, (m) => got.push(`${m.index}:${m[0]}`));
  return got;
}

describe('candidate starts', () => {
  for (const [name, re, starts] of CASES) {
    it(`${name}: the same matches as the global regex`, () => {
      const st = sticky(re);
      let matched = 0;
      for (let n = 0; n < 1500; n++) {
        const text = Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => PIECES[Math.floor(rnd() * PIECES.length)]!()).join(rnd() < 0.5 ? '' : ' ');
        const want = viaGlobal(re, text);
        matched += want.length;
        assert.deepEqual(viaStarts(st, starts, text), want, text);
      }
      assert.ok(matched > 0, 'the random texts contain matches');
    });
  }
});
