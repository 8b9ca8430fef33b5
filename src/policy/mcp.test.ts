import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicy } from './load.ts';
import { argumentText, type McpInput } from './mcp.ts';
import { PolicyError } from './errors.ts';

const doc = (mcp: string, defaults = 'deny'): string => `version: 1\ndefaults: { effect: ${defaults} }\nrules: []\nmcp:\n${mcp}`;

const alice = { subject: 'user:alice', kind: 'user' as const, groups: ['eng'], claims: { repo: 'corp/app' } };
const input = (o: Partial<McpInput>): McpInput => ({ principal: alice, server: 'gh', method: 'tools/call', context: { now: 0 }, findings: [], ...o });
const call = (name: string, args: Record<string, unknown> = {}): McpInput => input({ tool: { name, arguments: args, hash: 'h' } });

describe('policy mcp: section', () => {
  const { mcp } = loadPolicy(doc(`  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [gh], tools: ["get_*", run_sql, "delete_*"] }
    - { id: no-delete, effect: deny, servers: [gh], tools: ["delete_*"] }
    - { id: prod-sql, effect: deny, servers: [gh], tools: [run_sql], when: 'request.arguments.db == "prod"' }
    - { id: repo-claim, effect: deny, servers: [gh], tools: ["get_*"], when: '!request.arguments.repo.startsWith(principal.claims.repo)' }
`), { file: 't', version: 'v1' });

  it('a tool rule grants access to the server but a denied tool never cuts the server off', () => {
    assert.equal(mcp.decide(input({ method: 'initialize' })).effect, 'allow');
    assert.equal(mcp.decide(input({ method: 'tools/list' })).effect, 'allow');
    assert.deepEqual(mcp.decide(call('delete_repo')).matchedRuleIds, ['no-delete']);
    assert.equal(mcp.decide(call('get_issue', { repo: 'corp/app' })).effect, 'allow');
    assert.equal(mcp.decide(call('list_secrets')).reasons[0]!.code, 'no_matching_rule', 'a tool no rule grants is denied by default');
    assert.equal(mcp.decide(input({ method: 'initialize', server: 'other' })).effect, 'deny');
    assert.equal(mcp.decide(input({ method: 'initialize', principal: { ...alice, groups: ['sales'] } })).effect, 'deny');
  });

  it('conditions see the arguments and the caller\'s claims; one that cannot be evaluated denies', () => {
    assert.deepEqual(mcp.decide(call('run_sql', { db: 'prod' })).matchedRuleIds, ['prod-sql']);
    assert.equal(mcp.decide(call('run_sql', { db: 'dev' })).effect, 'allow');
    assert.deepEqual(mcp.decide(call('get_issue', { repo: 'evil/app' })).matchedRuleIds, ['repo-claim']);
    const missing = mcp.decide(call('get_issue', {}));
    assert.deepEqual([missing.effect, missing.reasons[0]!.code], ['deny', 'evaluation_error']);
  });

  it('tools/list shows what some rule may grant and nothing denied outright', () => {
    assert.equal(mcp.visible(alice, 'gh', 'get_issue'), true, 'a conditional deny does not hide');
    assert.equal(mcp.visible(alice, 'gh', 'delete_repo'), false);
    assert.equal(mcp.visible(alice, 'gh', 'list_secrets'), false);
    assert.equal(mcp.visible({ ...alice, groups: [] }, 'gh', 'get_issue'), false);
  });

  it('without an mcp: section the document default applies; the section default overrides it', () => {
    assert.equal(loadPolicy('version: 1\nrules: []\n', { file: 't', version: 'v' }).mcp.decide(call('x')).effect, 'deny');
    assert.equal(loadPolicy('version: 1\ndefaults: { effect: allow }\nrules: []\n', { file: 't', version: 'v' }).mcp.decide(call('x')).effect, 'allow');
    assert.equal(loadPolicy(doc('  defaults: { effect: deny }\n', 'allow'), { file: 't', version: 'v' }).mcp.decide(call('x')).effect, 'deny');
  });

  it('a broken condition or a duplicate id is reported with its key path', () => {
    assert.throws(() => loadPolicy(doc(`  rules:
    - { id: a, effect: allow, when: 'request.tool ==' }
    - { id: a, effect: deny }
`), { file: 't', version: 'v' }), (err: PolicyError) => {
      assert.deepEqual(err.issues.map((i) => i.path).sort(), ['mcp.rules[0].when', 'mcp.rules[1].id']);
      return true;
    });
    assert.throws(() => loadPolicy(doc('  rules:\n    - { id: a, effect: allow, tool: [x] }\n'), { file: 't', version: 'v' }), PolicyError);
  });

  it('a condition naming a field a tool call does not have is refused at load, with the line and a suggestion', () => {
    assert.throws(() => loadPolicy(doc(`  rules:
    - { id: a, effect: deny, when: 'request.tol == "x"' }
`), { file: 't', version: 'v' }), (err: PolicyError) => {
      assert.equal(err.issues[0]?.path, 'mcp.rules[0].when');
      assert.match(err.issues[0]?.message ?? '', /unknown field request\.tol.*request\.tool/);
      return true;
    });
    // An LLM request field is not a tool call's either.
    assert.throws(() => loadPolicy(doc(`  rules:\n    - { id: a, effect: deny, when: 'request.max_tokens > 5' }\n`), { file: 't', version: 'v' }), PolicyError);
  });

  it('argument_text holds every key and string at any depth, JSON inside strings decoded', () => {
    const text = argumentText({ a: [{ 'DROP TABLE': 1 }], b: '{"x":["de\\u006cete"]}', c: 5, d: null });
    for (const part of ['DROP TABLE', 'delete', '5']) assert.ok(text.split('\n').includes(part), part);
  });
});
