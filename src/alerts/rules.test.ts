import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlertRuleConfig } from './config-schema.ts';
import { checkAlertsConfig, ALERTS_DEFAULTS } from './config-schema.ts';
import { compileRules, hitsOf, networkOf, sweep, type CountedHit } from './rules.ts';
import type { AlertSource } from './types.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const hits = (...ats: number[]): CountedHit[] => ats.map((at, i) => ({ at, weight: 1, exchangeId: `ex_${i}` }));

test('sliding window: fires when N hits fall within M minutes, not when they are spread wider', () => {
  const rule = { threshold: 3, window: 10 * MIN };
  assert.deepEqual(sweep(hits(T0, T0 + 11 * MIN, T0 + 22 * MIN), rule, 0), [], 'never three within ten minutes');
  const fired = sweep(hits(T0, T0 + 11 * MIN, T0 + 15 * MIN, T0 + 20 * MIN), rule, 0);
  assert.equal(fired.length, 1);
  assert.equal(fired[0]!.at, T0 + 20 * MIN);
  assert.equal(fired[0]!.windowKey, String(T0 + 11 * MIN), 'the window starts at its first counted hit');
  assert.deepEqual(fired[0]!.exchangeIds, ['ex_1', 'ex_2', 'ex_3'], 'the first hit slid out of the window');
});

test('the window is exclusive at its start: a hit exactly M minutes earlier no longer counts', () => {
  assert.equal(sweep(hits(T0, T0 + 5 * MIN, T0 + 10 * MIN), { threshold: 3, window: 10 * MIN }, 0).length, 0);
  assert.equal(sweep(hits(T0 + 1, T0 + 5 * MIN, T0 + 10 * MIN), { threshold: 3, window: 10 * MIN }, 0).length, 1);
});

test('a firing restarts the count: one burst is one firing, the next burst another', () => {
  const rule = { threshold: 2, window: 10 * MIN };
  const burst = hits(T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4);
  const fired = sweep(burst, rule, 0);
  assert.deepEqual(fired.map((f) => f.at), [T0 + 1, T0 + 3], 'five hits at threshold two: two firings, the fifth waits for a partner');
  assert.deepEqual(sweep(burst, rule, T0 + 3).map((f) => f.at), [], 'what was fired before lastFiredAt is not fired again');
});

test('weights add up (spend) and a day window is the UTC calendar day', () => {
  const day = { threshold: 10, window: 'day' as const };
  const spend = (at: number, weight: number, id: string): CountedHit => ({ at, weight, exchangeId: id });
  const late = Date.UTC(2026, 11, 6, 23, 59, 0);
  assert.deepEqual(sweep([spend(late, 6, 'a'), spend(late + 2 * MIN, 6, 'b')], day, 0), [], 'the second half is spent the next day');
  const fired = sweep([spend(T0, 6, 'a'), spend(late, 6, 'b')], day, 0);
  assert.equal(fired.length, 1);
  assert.equal(fired[0]!.windowKey, '2026-12-06');
  assert.equal(fired[0]!.weight, 12);
});

const row = (o: Partial<AlertSource>): AlertSource => ({
  id: 'ex_1', at: T0, subject: 'user:alice', groups: ['eng'], credentialId: 'key1', model: 'gpt-4o', userAgent: 'OpenAI/JS 6.1.0', clientIp: '10.1.2.3',
  status: 'completed', errorCode: null, inputTokens: 100, outputTokens: 50, findingTypes: [], ...o,
});

const rule = (o: Partial<AlertRuleConfig> & Pick<AlertRuleConfig, 'id' | 'kind'>): AlertRuleConfig => ({ severity: 'medium', respond: 'none', ...o });

test('hits: refusals by code, findings by type, spend per group, novelty per identity and per credential', () => {
  const rules = [
    rule({ id: 'refused', kind: 'refusals', threshold: 3, window_minutes: 5, codes: ['policy_denied'] }),
    rule({ id: 'cards', kind: 'findings', threshold: 5, window_minutes: 5, finding_types: ['CREDIT_CARD'] }),
    rule({ id: 'spend', kind: 'spend', threshold: 1 }),
    rule({ id: 'tool', kind: 'new_client' }),
    rule({ id: 'net', kind: 'new_network' }),
  ];
  const rows = [
    row({ id: 'a', status: 'rejected', errorCode: 'policy_denied', inputTokens: null, outputTokens: null }),
    row({ id: 'b', status: 'rejected', errorCode: 'content_blocked', findingTypes: ['CREDIT_CARD', 'CREDIT_CARD', 'EMAIL_ADDRESS'], inputTokens: null, outputTokens: null }),
    row({ id: 'c', groups: ['eng', 'ml'] }),
    row({ id: 'd', status: 'rejected', errorCode: 'identity_suspended', inputTokens: null, outputTokens: null }),
  ];
  const got = hitsOf({ rules, rows, costOf: (_m, i, o) => i * 10 + o * 20, now: T0 });
  const of = (id: string) => got.filter((h) => h.ruleId === id).map((h) => `${h.exchangeId}:${h.subject}:${h.weight}${h.value ? `:${h.value}` : ''}`);
  assert.deepEqual(of('refused'), ['a:user:alice:1'], 'only the listed code; the suspension refusal never counts');
  assert.deepEqual(of('cards'), ['b:user:alice:2'], 'two card findings weigh two');
  assert.deepEqual(of('spend'), ['c:group:eng:2000', 'c:group:ml:2000'], 'each group of the caller; refusals cost nothing');
  assert.deepEqual(of('tool'), ['a:user:alice:1:openai-js', 'b:user:alice:1:openai-js', 'c:user:alice:1:openai-js', 'd:user:alice:1:openai-js']);
  assert.deepEqual(of('net'), ['a:credential:key1:1:10.1.2.0/24', 'b:credential:key1:1:10.1.2.0/24', 'c:credential:key1:1:10.1.2.0/24', 'd:credential:key1:1:10.1.2.0/24']);
  assert.deepEqual(hitsOf({ rules, rows: [row({ at: T0 - 2 * 86_400_000 })], costOf: () => 1, now: T0 }), [], 'history older than every window makes no hits');
});

test('networks: IPv4 /24, IPv4-mapped, IPv6 /48; junk is no network', () => {
  assert.equal(networkOf('192.168.7.9'), '192.168.7.0/24');
  assert.equal(networkOf('::ffff:10.0.0.1'), '10.0.0.0/24');
  assert.equal(networkOf('2001:db8:abcd:12::1'), '2001:db8:abcd::/48');
  assert.equal(networkOf('2001:db8::1'), '2001:db8:0::/48');
  assert.equal(networkOf('not-an-ip'), null);
  assert.equal(networkOf(null), null);
});

test('compiled thresholds: spend in micro-dollars per UTC day; config checks name the key', () => {
  const m = compileRules([rule({ id: 's', kind: 'spend', threshold: 2.5 }), rule({ id: 'r', kind: 'refusals', threshold: 3, window_minutes: 10 })]);
  assert.deepEqual([m.get('s')!.threshold, m.get('s')!.window], [2_500_000, 'day']);
  assert.deepEqual([m.get('r')!.threshold, m.get('r')!.window, m.get('r')!.mode], [3, 600_000, 'threshold']);
  const issues = checkAlertsConfig({ ...ALERTS_DEFAULTS, rules: [rule({ id: 'x', kind: 'refusals' }), rule({ id: 'x', kind: 'spend', threshold: 1, respond: 'suspend' })] });
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
    'alerts.rules[0].threshold: required for kind refusals', 'alerts.rules[0].window_minutes: required for kind refusals',
    'alerts.rules[1].id: duplicate rule id x', 'alerts.rules[1].respond: suspend needs a rule by subject (one identity to suspend)',
  ]);
  const approval = checkAlertsConfig({ ...ALERTS_DEFAULTS, rules: [
    rule({ id: 'a', kind: 'refusals', threshold: 3, window_minutes: 10, respond: 'require_approval' }),
    rule({ id: 'b', kind: 'refusals', threshold: 3, window_minutes: 10, approvers: ['sec'] }),
    rule({ id: 'c', kind: 'refusals', threshold: 3, window_minutes: 10, by: 'all', respond: 'require_approval', approvers: ['sec'] }),
    rule({ id: 'd', kind: 'refusals', threshold: 3, window_minutes: 10, respond: 'require_approval', approvers: ['sec'] }),
  ] });
  assert.deepEqual(approval.map((i) => `${i.path}: ${i.message}`), [
    "alerts.rules[0].approvers: required for respond require_approval (the groups that approve the identity's requests)",
    'alerts.rules[1].approvers: only for respond require_approval',
    'alerts.rules[2].respond: require_approval needs a rule by subject (one identity to hold for approval)',
  ]);
  assert.deepEqual(compileRules([rule({ id: 'd', kind: 'refusals', threshold: 3, window_minutes: 10, respond: 'require_approval', approvers: ['sec'] })]).get('d')!.approvers, ['sec']);
});
