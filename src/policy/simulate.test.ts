import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NO_FEATURES } from './input.ts';
import { loadPolicy } from './load.ts';
import type { McpInput } from './mcp.ts';
import { simulate, type RecordedDecision } from './simulate.ts';

const CANDIDATE = `version: 1
defaults: { effect: allow }
rules:
  - { id: no-mini, effect: deny, resources: { models: [gpt-4o-mini] } }
mcp:
  defaults: { effect: deny }
  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [gh] }
    - { id: no-delete, effect: deny, servers: [gh], tools: ["delete_*"] }
    - { id: prod-sql, effect: require_approval, servers: [gh], tools: [run_sql], when: 'request.argument_text.contains("prod")', approval: { approver_groups: [dba] } }
`;

const alice = { subject: 'user:alice', kind: 'user' as const, groups: ['eng'] };
const mcpRecord = (id: string, o: Partial<McpInput>, before: RecordedDecision['before']): RecordedDecision => ({
  exchangeId: id, kind: 'mcp', before, input: { principal: alice, server: 'gh', method: 'tools/call', context: { now: 0 }, findings: [], ...o },
});
const tool = (name: string, args: Record<string, unknown> = {}): McpInput['tool'] => ({ name, arguments: args, hash: null });

describe('policy simulation of MCP records', () => {
  const loaded = loadPolicy(CANDIDATE, { file: 't', version: 'v2' });
  const engines = { llm: loaded.engine, mcp: loaded.mcp };

  it('MCP records go through the mcp: rules, LLM records through the model rules; each change lists before and after', () => {
    const report = simulate(engines, [
      mcpRecord('ex_init', { method: 'initialize' }, { effect: 'allow', model: '', rules: ['eng'] }),
      mcpRecord('ex_get', { tool: tool('get_issue') }, { effect: 'allow', model: 'get_issue', rules: ['eng'] }),
      mcpRecord('ex_del', { tool: tool('delete_repo') }, { effect: 'allow', model: 'delete_repo', rules: ['eng'] }),
      mcpRecord('ex_sql', { tool: tool('run_sql', { db: 'prod' }) }, { effect: 'allow', model: 'run_sql', rules: ['eng'] }),
      mcpRecord('ex_other', { server: 'jira', method: 'initialize' }, { effect: 'allow', model: '', rules: ['(default_allow)'] }),
      {
        exchangeId: 'ex_llm', before: { effect: 'allow', model: 'gpt-4o-mini' },
        input: { principal: alice, resource: { provider: 'openai', model: 'gpt-4o-mini', endpoint: 'openai.chat' }, request: { ...NO_FEATURES, stream: false }, context: { now: 0 }, findings: [] },
      },
    ]);
    assert.equal(report.evaluated, 6);
    assert.equal(report.unchanged, 2);
    assert.deepEqual(report.changes.allowed_to_blocked.examples, ['ex_del', 'ex_other', 'ex_llm']);
    assert.deepEqual(report.changes.approval_required.examples, ['ex_sql']);
    assert.deepEqual(report.records.find((r) => r.exchangeId === 'ex_del'), { exchangeId: 'ex_del', change: 'allowed_to_blocked', before: { effect: 'allow', rules: ['eng'] }, after: { effect: 'deny', rules: ['no-delete'] } });
    assert.deepEqual(report.records.find((r) => r.exchangeId === 'ex_other')!.after, { effect: 'deny', rules: ['(no_matching_rule)'] });
    assert.deepEqual(report.records.find((r) => r.exchangeId === 'ex_sql')!.after, { effect: 'require_approval', rules: ['prod-sql'] });
  });
});
