import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentHome, agentPolicy, runAgent, startAgentFixture, type AgentFixture } from './agent-fixture.ts';
import { eventually, type TestGateway } from '../helpers/gateway.ts';
import type { UpstreamMcp } from './upstream-server.ts';

/**
 * Codex CLI (`codex exec`, the exact-pinned devDependency) with the gateway as both its model endpoint (Responses
 * API; the mock answers a prompt about the weather with a `function_call` of the weather tool, arguments
 * {city: Paris}) and its MCP server (`[mcp_servers.<name>]` with `url` and `bearer_token_env_var` → /mcp/<server>).
 * Codex offers each MCP server's tools as a Responses `namespace` tool named `mcp__<server>` and expects the call
 * as `{name: "get_weather", namespace: "mcp__<server>"}`. On `dev` the call is allowed and reaches the MCP server;
 * on `prod` a rule denies calls for Paris: refused, it never reaches the server. The records show both.
 */
const TOKEN = 'codex-upstream-token-' + 'x'.repeat(16);
const POLICY = agentPolicy('no-paris-on-prod', 'Paris');

/**
 * The tested Codex configuration (docs/mcp.md shows the same keys): the gateway as a custom model provider and as a
 * Streamable HTTP MCP server with the Portcullis key read from an environment variable. `default_tools_approval_mode
 * = "approve"` lets `codex exec` (approval policy `never`) run the MCP tool without a prompt: the gateway's policy
 * is what governs it.
 */
function codexConfig(t: TestGateway, server: string): string {
  return `model_provider = "portcullis"

[model_providers.portcullis]
name = "Portcullis"
base_url = "${t.openaiBase}"
env_key = "PORTCULLIS_TOKEN"
wire_api = "responses"

[mcp_servers.${server}]
url = "${t.gw.url}/mcp/${server}"
bearer_token_env_var = "PORTCULLIS_TOKEN"
default_tools_approval_mode = "approve"
`;
}

function codex(t: TestGateway, server: string): Promise<{ code: number; out: string }> {
  const home = agentHome('pcl-codex-mcp-');
  writeFileSync(join(home, 'config.toml'), codexConfig(t, server));
  return runAgent('codex', ['exec', '--skip-git-repo-check', '-m', 'gpt-4o', 'what is the weather in Paris?'], home, { CODEX_HOME: home, PORTCULLIS_TOKEN: t.userKey });
}

describe('Codex CLI through the gateway as model endpoint and MCP server', () => {
  let t: TestGateway;
  let dev: UpstreamMcp;
  let prod: UpstreamMcp;

  let fixture: AgentFixture | undefined;

  before(async () => {
    fixture = await startAgentFixture(POLICY, 'PCL_TEST_CODEX_TOKEN', TOKEN);
    ({ t, dev, prod } = fixture);
  });

  after(async () => {
    await fixture?.close();
  });

  const SLOW = { timeout: 360_000 };

  it('a governed tool call reaches the MCP server and its result the model; the records show both exchanges', SLOW, async () => {
    const r = await codex(t, 'dev');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(dev.calls.filter((c) => c.tool === 'get_weather').map((c) => c.args.city), ['Paris'], r.out);
    assert.match(r.out, /mcp: dev\/get_weather \(completed\)/);
    assert.match(r.out, /^echo: .*\nOutput: sunny in Paris$/m, `the tool result went back to the model through the gateway:\n${r.out}`);
    const call = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'get_weather', limit: 10 })).find((e) => e.provider === 'mcp:dev' && e.status === 'completed'));
    assert.equal(call.endpoint, 'mcp.tools_call');
    assert.equal(call.subject, 'user:alice');
    assert.deepEqual((call.decision as { matchedRuleIds: string[] }).matchedRuleIds, ['eng']);
    const llm = (await t.gw.store.exchanges.list({ limit: 50 })).filter((e) => e.endpoint === 'openai.responses');
    assert.ok(llm.length >= 2, `the model request and the one carrying the tool result went through the gateway:\n${r.out}`);
    // The MCP call is linked to the model answer that asked for it (Codex's namespace mcp__dev + get_weather).
    const asked = llm.reduce((a, b) => (a.startedAt <= b.startedAt ? a : b));
    const link = (call.decision as { correlation?: { exchange_id: string; tool_call_id: string } }).correlation;
    assert.equal(link?.exchange_id, asked.id);
    assert.match(link?.tool_call_id ?? '', /^call_mock\d+$/);
  });

  it('a denied tool call never reaches the MCP server; the record shows the refusal and its rule', SLOW, async () => {
    const r = await codex(t, 'prod');
    assert.equal(prod.calls.length, 0, r.out);
    assert.match(r.out, /mcp: prod\/get_weather \(failed\)/);
    assert.doesNotMatch(r.out, /sunny in Paris/);
    const refused = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'get_weather', limit: 10 })).find((e) => e.provider === 'mcp:prod'));
    assert.equal(refused.endpoint, 'mcp.tools_call');
    assert.equal(refused.status, 'rejected', r.out);
    assert.equal(refused.errorCode, 'denied_by_policy');
    assert.deepEqual((refused.decision as { matchedRuleIds: string[] }).matchedRuleIds, ['no-paris-on-prod']);
    assert.ok((refused.decision as { correlation?: unknown }).correlation, 'the refused call is linked to the model answer too');
  });
});
