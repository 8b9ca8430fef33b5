import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentHome, agentPolicy, runAgent, startAgentFixture, type AgentFixture } from './agent-fixture.ts';
import { eventually, type TestGateway } from '../helpers/gateway.ts';
import type { UpstreamMcp } from './upstream-server.ts';

/**
 * Claude Code (`claude -p`, the exact-pinned devDependency) with the gateway as both its model endpoint (the mock
 * provider answers a prompt about the weather with a call of the first tool offered, input {city: Rome}) and its
 * MCP server (`--mcp-config` → /mcp/<server>, built-in tools off so the MCP tool is the first). On `dev` the call is
 * allowed and reaches the MCP server; on `prod` a rule denies calls for Rome: the call is refused and never reaches
 * it. The records show both.
 */
const TOKEN = 'claude-code-upstream-token-' + 'c'.repeat(16);
const POLICY = agentPolicy('no-rome-on-prod', 'Rome');

function claude(t: TestGateway, server: string): Promise<{ code: number; out: string }> {
  const home = agentHome('pcl-claude-mcp-');
  const config = join(home, 'mcp.json');
  writeFileSync(config, JSON.stringify({ mcpServers: { [server]: { type: 'http', url: `${t.gw.url}/mcp/${server}`, headers: { Authorization: `Bearer ${t.userKey}` } } } }));
  const args = ['-p', 'what is the weather in Rome?', '--model', 'claude-opus-4-5', '--mcp-config', config, '--strict-mcp-config', '--tools', '',
    '--allowedTools', `mcp__${server}__get_weather`, '--max-turns', '3'];
  return runAgent('claude', args, home, {
    ANTHROPIC_BASE_URL: t.anthropicBase, ANTHROPIC_API_KEY: t.userKey, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1',
  });
}

describe('Claude Code through the gateway as model endpoint and MCP server', () => {
  let t: TestGateway;
  let dev: UpstreamMcp;
  let prod: UpstreamMcp;

  let fixture: AgentFixture | undefined;

  before(async () => {
    fixture = await startAgentFixture(POLICY, 'PCL_TEST_CC_TOKEN', TOKEN);
    ({ t, dev, prod } = fixture);
  });

  after(async () => {
    await fixture?.close();
  });

  const SLOW = { timeout: 360_000 };

  it('a governed tool call reaches the MCP server; the records show the model exchange and the MCP call', SLOW, async () => {
    const r = await claude(t, 'dev');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(dev.calls.filter((c) => c.tool === 'get_weather').map((c) => c.args.city), ['Rome'], r.out);
    const call = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'get_weather', limit: 10 })).find((e) => e.provider === 'mcp:dev' && e.status === 'completed'));
    assert.equal(call.subject, 'user:alice');
    const llm = (await t.gw.store.exchanges.list({ limit: 50 })).filter((e) => e.provider === 'anthropic');
    assert.ok(llm.length > 0, 'the model requests went through the gateway too');
    // Linked to the model answer that asked for it (Claude Code names it mcp__dev__get_weather; docs/mcp.md#correlation).
    const link = (call.decision as { correlation?: { exchange_id: string; tool_call_id: string } }).correlation;
    assert.ok(link && llm.some((e) => e.id === link.exchange_id), `linked to one of the model exchanges: ${JSON.stringify(link)}`);
    assert.match(link.tool_call_id, /^toolu_mock\d+$/);
  });

  it('a denied tool call never reaches the MCP server; the record shows the refusal', SLOW, async () => {
    const r = await claude(t, 'prod');
    assert.equal(prod.calls.length, 0, r.out);
    const refused = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'get_weather', limit: 10 })).find((e) => e.provider === 'mcp:prod'));
    assert.equal(refused.status, 'rejected', r.out);
    assert.equal(refused.errorCode, 'denied_by_policy');
    assert.deepEqual((refused.decision as { matchedRuleIds: string[] }).matchedRuleIds, ['no-rome-on-prod']);
  });
});
