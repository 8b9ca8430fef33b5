import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicy } from './load.ts';
import { NO_FEATURES, type PolicyInput, type RequestFeatures } from './input.ts';
import { PolicyError } from './errors.ts';
import { CEL_SHAPE } from './cel.ts';

const POLICY = `
version: 1
sensitivity:
  levels: [public, internal, confidential, restricted]
  default: internal
  findings:
    EMAIL_ADDRESS: confidential
    "SECRET_*": restricted
  models:
    confidential: ["gpt-*", "local-*"]
    restricted: ["local-*"]
routing:
  reroute:
    restricted: local-llama
rules:
  - id: eng-openai
    effect: allow
    subjects: { groups: [eng] }
    resources: { models: ["gpt-*", "local-*"] }
    features: { tools: true, max_tokens: 4096, temperature: { max: 1.5 } }
    on_sensitivity_violation: reroute
  - id: finance-mini
    effect: allow
    subjects: { groups: [finance] }
    resources: { models: [gpt-4o-mini] }
    features: { tools: false, streaming: false }
  - id: no-o1-for-contractors
    effect: deny
    subjects: { groups: [contractors] }
    resources: { models: ["o1*"] }
  - id: contractors
    effect: allow
    subjects: { groups: [contractors] }
  - id: ci-main-only
    effect: allow
    subjects: { kinds: [workload], claims: { ref: refs/heads/main } }
    resources: { models: [gpt-4o-mini] }
  - id: office-hours
    effect: allow
    subjects: { users: [bob@example.com] }
    context: { hours: { from: "08:00", to: "18:00", timezone: UTC, days: [mon, tue, wed, thu, fri] }, networks: [10.0.0.0/8], clients: ["OpenAI/*"] }
  - id: big-prompts-need-approval
    effect: require_approval
    subjects: { groups: [eng] }
    resources: { models: [gpt-4.1] }
    when: request.max_tokens > 2000 && principal.groups.exists(g, g == "eng")
  - id: cel-broken-at-runtime
    effect: deny
    subjects: { groups: [weird] }
    when: principal.claims.team == "x"
`;

const engine = loadPolicy(POLICY, { file: 'test.yaml', version: 'pv_test' }).engine;
const MONDAY_NOON = Date.UTC(2026, 10, 23, 12, 0);
const SUNDAY_NOON = Date.UTC(2026, 10, 22, 12, 0);

function input(over: {
  groups?: string[]; subject?: string; kind?: PolicyInput['principal']['kind']; claims?: Record<string, unknown>;
  model?: string; request?: Partial<RequestFeatures>; findings?: string[]; label?: string; now?: number; ip?: string; ua?: string;
} = {}): PolicyInput {
  return {
    principal: { subject: over.subject ?? 'user:alice@example.com', kind: over.kind ?? 'user', groups: over.groups ?? ['eng'], claims: over.claims },
    resource: { provider: 'openai', model: over.model ?? 'gpt-4o', endpoint: 'openai.chat' },
    request: { ...NO_FEATURES, maxTokens: 100, ...over.request },
    context: { now: over.now ?? MONDAY_NOON, clientIp: over.ip ?? '10.1.2.3', userAgent: over.ua ?? 'OpenAI/JS 7.0' },
    findings: (over.findings ?? []).map((type) => ({ type })),
    label: over.label,
  };
}

describe('policy engine', () => {
  const cases: { name: string; in: Parameters<typeof input>[0]; effect: string; reason: string; rule?: string; sensitivity?: string; reroute?: string }[] = [
    { name: 'group may use a model it is granted', in: {}, effect: 'allow', reason: 'allowed_by_rule', rule: 'eng-openai' },
    { name: 'default deny: no rule for this model', in: { model: 'claude-3' }, effect: 'deny', reason: 'no_matching_rule' },
    { name: 'default deny: unknown group', in: { groups: ['sales'] }, effect: 'deny', reason: 'no_matching_rule' },
    { name: 'feature bound: tools off for finance', in: { groups: ['finance'], model: 'gpt-4o-mini', request: { tools: true } }, effect: 'deny', reason: 'feature_not_allowed', rule: 'finance-mini' },
    { name: 'feature bound: streaming off for finance', in: { groups: ['finance'], model: 'gpt-4o-mini', request: { stream: true } }, effect: 'deny', reason: 'feature_not_allowed', rule: 'finance-mini' },
    { name: 'feature bound: max_tokens above limit', in: { request: { maxTokens: 5000 } }, effect: 'deny', reason: 'feature_not_allowed', rule: 'eng-openai' },
    { name: 'feature bound: max_tokens missing counts as unbounded', in: { request: { maxTokens: null } }, effect: 'deny', reason: 'feature_not_allowed' },
    { name: 'feature bound: temperature above max', in: { request: { temperature: 1.9 } }, effect: 'deny', reason: 'feature_not_allowed' },
    { name: 'deny overrides allow', in: { groups: ['contractors'], model: 'o1-preview' }, effect: 'deny', reason: 'denied_by_rule', rule: 'no-o1-for-contractors' },
    { name: 'contractors may use other models', in: { groups: ['contractors'], model: 'gpt-4o' }, effect: 'allow', reason: 'allowed_by_rule', rule: 'contractors' },
    { name: 'workload claim matches', in: { kind: 'workload', groups: [], claims: { ref: 'refs/heads/main' }, model: 'gpt-4o-mini' }, effect: 'allow', reason: 'allowed_by_rule', rule: 'ci-main-only' },
    { name: 'workload claim from another branch', in: { kind: 'workload', groups: [], claims: { ref: 'refs/heads/evil' }, model: 'gpt-4o-mini' }, effect: 'deny', reason: 'no_matching_rule' },
    { name: 'context: in hours, network and client', in: { subject: 'user:bob@example.com', groups: [] }, effect: 'allow', reason: 'allowed_by_rule', rule: 'office-hours' },
    { name: 'context: on Sunday', in: { subject: 'user:bob@example.com', groups: [], now: SUNDAY_NOON }, effect: 'deny', reason: 'no_matching_rule' },
    { name: 'context: from outside the network', in: { subject: 'user:bob@example.com', groups: [], ip: '192.168.1.1' }, effect: 'deny', reason: 'no_matching_rule' },
    { name: 'context: IPv4-mapped peer inside the network', in: { subject: 'user:bob@example.com', groups: [], ip: '::ffff:10.9.9.9' }, effect: 'allow', reason: 'allowed_by_rule' },
    { name: 'context: another client', in: { subject: 'user:bob@example.com', groups: [], ua: 'curl/8' }, effect: 'deny', reason: 'no_matching_rule' },
    { name: 'CEL: approval above a threshold', in: { model: 'gpt-4.1', request: { maxTokens: 3000 } }, effect: 'require_approval', reason: 'approval_required_by_rule', rule: 'big-prompts-need-approval' },
    { name: 'CEL runtime error fails closed', in: { groups: ['weird', 'contractors'] }, effect: 'deny', reason: 'evaluation_error', rule: 'cel-broken-at-runtime' },
    { name: 'sensitivity: default level', in: {}, effect: 'allow', reason: 'allowed_by_rule', sensitivity: 'internal' },
    { name: 'sensitivity: derived from findings', in: { findings: ['EMAIL_ADDRESS'] }, effect: 'allow', reason: 'allowed_by_rule', sensitivity: 'confidential' },
    { name: 'sensitivity: glob type, reroute', in: { findings: ['SECRET_AWS_KEY'] }, effect: 'allow', reason: 'allowed_by_rule', sensitivity: 'restricted', reroute: 'local-llama' },
    { name: 'sensitivity: label raises and reroutes', in: { label: 'restricted' }, effect: 'allow', reason: 'allowed_by_rule', sensitivity: 'restricted', reroute: 'local-llama' },
    { name: 'sensitivity: label cannot lower', in: { findings: ['SECRET_GITHUB'], label: 'public' }, effect: 'allow', reason: 'allowed_by_rule', sensitivity: 'restricted', reroute: 'local-llama' },
    { name: 'sensitivity: unknown label is refused', in: { label: 'nothing' }, effect: 'deny', reason: 'sensitivity_label_invalid' },
    { name: 'sensitivity: block when the rule does not reroute', in: { groups: ['finance'], model: 'gpt-4o-mini', findings: ['SECRET_X'] }, effect: 'deny', reason: 'sensitivity_not_allowed', sensitivity: 'restricted' },
    { name: 'sensitivity: allowed model is not rerouted', in: { model: 'local-llama', findings: ['SECRET_X'] }, effect: 'allow', reason: 'allowed_by_rule', sensitivity: 'restricted' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = engine.evaluate(input(c.in));
      assert.equal(d.effect, c.effect, JSON.stringify(d));
      assert.equal(d.reasons[0]!.code, c.reason, JSON.stringify(d));
      assert.equal(d.policyVersion, 'pv_test');
      if (c.rule) assert.ok(d.matchedRuleIds.includes(c.rule) || d.reasons.some((r) => r.ruleId === c.rule), JSON.stringify(d));
      if (c.sensitivity) assert.equal(d.sensitivity, c.sensitivity);
      assert.equal(d.reroute?.to, c.reroute);
    });
  }

  it('lists the models a principal may be granted (for /v1/models)', () => {
    const p = { subject: 'user:c', kind: 'user' as const, groups: ['contractors'] };
    assert.equal(engine.mayUseModel(p, 'gpt-4o'), true);
    assert.equal(engine.mayUseModel(p, 'o1-mini'), false, 'an unconditional deny hides the model');
    assert.equal(engine.mayUseModel({ ...p, groups: ['finance'] }, 'gpt-4o'), false);
    assert.equal(engine.mayUseModel({ ...p, groups: ['finance'] }, 'gpt-4o-mini'), true);
  });

  // Its speed is measured by `npm run bench` (policy decision time, docs/benchmark.md), never timed in a test.
  it('decides a 100-rule policy by the one rule that matches the caller, model and condition', () => {
    const rules = Array.from({ length: 100 }, (_, i) => `  - id: r${i}\n    effect: allow\n    subjects: { groups: [g${i}] }\n    resources: { models: ["m${i}-*"] }\n    when: request.max_tokens < ${1000 + i}`).join('\n');
    const big = loadPolicy(`version: 1\nrules:\n${rules}\n`, { file: 'big.yaml', version: 'v' }).engine;
    for (const i of [0, 42, 99]) {
      const d = big.evaluate(input({ groups: [`g${i}`], model: `m${i}-x` }));
      assert.equal(d.effect, 'allow');
      assert.deepEqual(d.reasons.map((r) => r.ruleId).filter(Boolean), [`r${i}`]);
    }
    assert.equal(big.evaluate(input({ groups: ['g99'], model: 'm98-x' })).effect, 'deny', 'another group\'s model is not granted');
  });
});

describe('policy loading', () => {
  const issuesOf = (text: string) => {
    try {
      loadPolicy(text, { file: 'p.yaml', version: 'v' });
    } catch (err) {
      if (err instanceof PolicyError) return err;
      throw err;
    }
    assert.fail('expected the policy to be rejected');
  };

  it('names file, line and key for schema errors', () => {
    const err = issuesOf('version: 1\nrules:\n  - id: a\n    effect: allow\n    subjets: {}\n');
    assert.deepEqual(err.issues[0], { path: 'rules[0].subjets', message: 'unknown key', line: 5 });
    assert.match(err.message, /p\.yaml:5 rules\[0\]\.subjets: unknown key/);
  });

  it('rejects CEL syntax errors, unknown variables and non-boolean conditions with the rule key', () => {
    const base = (when: string) => `version: 1\nrules:\n  - id: a\n    effect: deny\n    when: '${when}'\n`;
    assert.match(issuesOf(base('request.model ==')).message, /p\.yaml:5 rules\[0\]\.when: CEL syntax error/);
    assert.match(issuesOf(base('secrets.x == 1')).message, /rules\[0\]\.when: CEL error: unresolved attribute/);
    assert.match(issuesOf(base('request.model')).message, /must evaluate to a boolean/);
  });

  it('attack on the operator: a typo in a condition field is refused at load with file:line, not a deny at run time', () => {
    const base = (when: string) => `version: 1\nrules:\n  - id: a\n    effect: deny\n    when: '${when}'\n`;
    assert.match(issuesOf(base('request.modle == "x"')).message, /p\.yaml:5 rules\[0\]\.when: CEL error: unknown field request\.modle \(did you mean request\.model\?\)/);
    for (const when of ['has(request.modle)', 'request["modle"] == "x"', 'principal.grups.exists(g, g == "x")', 'context.hours < 7', '[principal.subject, request.mdl][0] == "x"']) {
      assert.match(issuesOf(base(when)).message, /CEL error: unknown field (request|principal|context)\./, when);
    }
    assert.match(issuesOf(base('request.model.name == "x"')).message, /request\.model is a string: it has no field name/);
    // Claims are free-form (any IdP claim); a comprehension variable may shadow a root; declared fields all pass.
    for (const when of ['has(principal.claims.env) && principal.claims["repo-owner"] == "acme"', 'findings.exists(request, request.size > 1)', 'request.model == "x" && principal.kind == "user" && context.weekday == "mon"']) {
      assert.doesNotThrow(() => loadPolicy(base(when), { file: 'p.yaml', version: 'v' }), when);
    }
  });

  it('every field a condition may name is bound by the engine at run time (the declared shape cannot drift)', () => {
    const fields = Object.entries(CEL_SHAPE).flatMap(([root, f]) => Object.keys(f).map((k) => `${root}.${k}`));
    assert.ok(fields.includes('request.model') && fields.includes('principal.claims') && fields.includes('context.user_agent'));
    const when = fields.map((f) => `${f} == ${f}`).join(' && ');
    const engine = loadPolicy(`version: 1\nrules:\n  - id: all\n    effect: allow\n    subjects: { groups: [eng] }\n    when: '${when}'\n`, { file: 'p.yaml', version: 'v' }).engine;
    const d = engine.evaluate(input());
    assert.equal(d.effect, 'allow', JSON.stringify(d.reasons));
  });

  it('rejects bad references: levels, networks, time zones, duplicate ids, reroute targets', () => {
    const err = issuesOf(`version: 1
sensitivity:
  levels: [public, secret]
  models: { secret: [local-*] }
routing:
  reroute: { secret: gpt-4o }
rules:
  - id: a
    effect: allow
    sensitivity: [nope]
    context: { networks: [10.0.0.0/99] }
  - id: a
    effect: allow
    context: { hours: { from: "09:00", to: "17:00", timezone: Mars/Base } }
`);
    const paths = err.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['routing.reroute.secret', 'rules[1].context.hours', 'rules[0].context.networks', 'rules[0].sensitivity[0]', 'rules[1].id'].sort());
    assert.ok(err.issues.every((i) => typeof i.line === 'number'));
  });

  it('reports YAML syntax errors with a line', () => {
    const err = issuesOf('version: 1\nrules: [\n');
    assert.equal(err.issues[0]!.path, '(yaml)');
    assert.equal(typeof err.issues[0]!.line, 'number');
  });
});
