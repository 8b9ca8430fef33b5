import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { policyYaml } from './fixture.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

/**
 * Claude Code (`claude -p`, the exact-pinned devDependency) with the gateway as both its model endpoint (the mock
 * provider answers a prompt about the weather with a call of the first tool offered, input {city: Rome}) and its
 * MCP server (`--mcp-config` → /mcp/<server>, built-in tools off so the MCP tool is the first). On `dev` the call is
 * allowed and reaches the MCP server; on `prod` a rule denies calls for Rome: the call is refused and never reaches
 * it. The records show both.
 */
const BIN = join(import.meta.dirname, '../../node_modules/.bin');
const TOKEN = 'claude-code-upstream-token-' + 'c'.repeat(16);

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
mcp:
  defaults: { effect: deny }
  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [dev, prod] }
    - id: no-rome-on-prod
      effect: deny
      servers: [prod]
      tools: [get_weather]
      when: 'request.argument_text.contains("Rome")'
`;

function claude(t: TestGateway, server: string): Promise<{ code: number; out: string }> {
  const home = mkdtempSync(join(tmpdir(), 'pcl-claude-mcp-'));
  const config = join(home, 'mcp.json');
  writeFileSync(config, JSON.stringify({ mcpServers: { [server]: { type: 'http', url: `${t.gw.url}/mcp/${server}`, headers: { Authorization: `Bearer ${t.userKey}` } } } }));
  const args = ['-p', 'what is the weather in Rome?', '--model', 'claude-opus-4-5', '--mcp-config', config, '--strict-mcp-config', '--tools', '',
    '--allowedTools', `mcp__${server}__get_weather`, '--max-turns', '3'];
  return new Promise((resolve) => {
    const child = execFile(join(BIN, 'claude'), args, {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ANTHROPIC_BASE_URL: t.anthropicBase, ANTHROPIC_API_KEY: t.userKey,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1',
      },
      cwd: home, timeout: 150_000, maxBuffer: 8 << 20,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}\n${stderr}` }));
    child.stdin?.end();
  });
}

describe('Claude Code through the gateway as model endpoint and MCP server', () => {
  let t: TestGateway;
  let dev: UpstreamMcp;
  let prod: UpstreamMcp;

  before(async () => {
    dev = await startUpstreamMcp({ token: TOKEN, weather: true });
    prod = await startUpstreamMcp({ token: TOKEN, weather: true });
    process.env.PCL_TEST_CC_TOKEN = TOKEN;
    t = await startTestGateway({
      maxBodyBytes: 8 << 20,
      extraYaml: `${policyYaml(POLICY)}mcp:
  servers:
    - { name: dev, url: "${dev.url}", credential: "env:PCL_TEST_CC_TOKEN" }
    - { name: prod, url: "${prod.url}", credential: "env:PCL_TEST_CC_TOKEN" }
`,
    });
  });

  after(async () => {
    await t?.close();
    await dev?.close();
    await prod?.close();
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
