import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { runCli } from '../../src/cli/main.ts';
import { connectMcp, startMcpGateway } from './fixture.ts';
import { eventually, type TestGateway } from '../helpers/gateway.ts';

const TOKEN = 'simulate-upstream-token-' + 's'.repeat(20);
const MASTER = randomBytes(32).toString('base64');

const ACTIVE = `
version: 1
defaults: { effect: allow }
rules: []
mcp:
  defaults: { effect: deny }
  rules:
    - id: eng-tools
      effect: allow
      subjects: { groups: [eng] }
      servers: [tools]
    - id: no-delete
      effect: deny
      servers: [tools]
      tools: ["delete_*"]
`;

// The candidate denies one tool outright, and another only when its arguments (read from the sealed record) say DROP.
const CANDIDATE = `${ACTIVE}    - id: no-echo
      effect: deny
      servers: [tools]
      tools: [echo]
    - id: no-drop
      effect: deny
      servers: [tools]
      tools: [run_sql]
      when: 'request.argument_text.matches("(?i)\\\\bdrop\\\\b")'
`;

interface Simulation {
  evaluated: number;
  unchanged: number;
  skipped: number;
  changes: Record<string, { count: number; examples: string[] }>;
  by_rule: { rule: string; change: string; count: number; examples: string[] }[];
  records: { exchange_id: string; change: string; before: { effect: string; rules: string[] }; after: { effect: string; rules: string[] } }[];
}

describe('policy simulate and exchanges explain replay recorded MCP requests', () => {
  let t: TestGateway;
  let client: Client;
  let close: () => Promise<void>;
  const ids: Record<string, string[]> = {};
  let candidate = '';

  const cli = async (args: string[], env: Record<string, string>): Promise<{ code: number; text: string }> => {
    const out: Buffer[] = [];
    const stdout = new PassThrough().on('data', (c: Buffer) => out.push(c));
    const code = await runCli(args, { stdin: new PassThrough(), stdout, stderr: stdout, env, cwd: t.dir });
    return { code, text: Buffer.concat(out).toString() };
  };

  before(async () => {
    ({ t, close } = await startMcpGateway({ name: 'tools', policy: ACTIVE, token: TOKEN, masterKey: MASTER }));
    client = (await connectMcp(`${t.gw.url}/mcp/tools`, t.userKey, 'simulate-agent')).client;
    await client.listTools();
    await client.callTool({ name: 'echo', arguments: { text: 'one' } });
    await client.callTool({ name: 'echo', arguments: { text: 'two' } });
    await client.callTool({ name: 'run_sql', arguments: { sql: 'select 1' } });
    // Smuggled as JSON inside a string: the replay reads it as the live decision did.
    await client.callTool({ name: 'run_sql', arguments: { sql: 'select 2', options: JSON.stringify({ then: 'DROP TABLE users' }) } });
    await assert.rejects(client.callTool({ name: 'delete_repo', arguments: { name: 'prod' } }));
    const rows = await eventually(async () => {
      const all = await t.gw.store.exchanges.list({ limit: 50 });
      return all.filter((r) => r.endpoint === 'mcp.tools_call' && r.status !== 'in_progress').length === 5 ? all : undefined;
    }, 10_000);
    for (const r of rows) if (r.model) (ids[r.model] ??= []).push(r.id);
    const pushed = await fetch(`${t.gw.url}/admin/v1/policies`, {
      method: 'POST', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source: CANDIDATE, message: 'deny echo and DROP statements' }),
    });
    assert.equal(pushed.status, 201, await pushed.clone().text());
    candidate = `v${String(((await pushed.json()) as { number: number }).number)}`;
  });

  after(async () => {
    await client?.close();
    await close?.();
  });

  it('the calls of the newly denied tool, and the call whose arguments a new condition matches, are reported — nothing else', async () => {
    const r = await fetch(`${t.gw.url}/admin/v1/policies/${candidate}/simulate`, {
      method: 'POST', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ since: '1h' }),
    });
    assert.equal(r.status, 200);
    const sim = (await r.json()) as Simulation;
    const runSql = ids.run_sql!;
    assert.equal(runSql.length, 2);
    assert.equal(sim.skipped, 0, 'every MCP record had its sealed request');
    assert.ok(sim.evaluated >= 7, `initialize, tools/list and five calls were replayed (${sim.evaluated})`);
    assert.equal(sim.changes.allowed_to_blocked!.count, 3);
    for (const [kind, c] of Object.entries(sim.changes)) if (kind !== 'allowed_to_blocked') assert.equal(c.count, 0, kind);
    assert.equal(sim.unchanged, sim.evaluated - 3);
    const newlyDenied = sim.records.map((x) => x.exchange_id).sort();
    assert.ok(ids.echo!.every((id) => newlyDenied.includes(id)), 'both echo calls');
    assert.ok(!ids.delete_repo!.some((id) => newlyDenied.includes(id)), 'the call denied already is no change');
    assert.equal(newlyDenied.filter((id) => runSql.includes(id)).length, 1, 'only the run_sql call whose arguments say DROP');
    const echo = sim.records.find((x) => x.exchange_id === ids.echo![0])!;
    assert.deepEqual(echo, { exchange_id: echo.exchange_id, change: 'allowed_to_blocked', before: { effect: 'allow', rules: ['eng-tools'] }, after: { effect: 'deny', rules: ['no-echo'] } });
    assert.deepEqual(sim.by_rule.map((b) => [b.rule, b.count]).sort(), [['no-drop', 1], ['no-echo', 2]]);
  });

  it('the CLI prints the report with each changed call before and after', async () => {
    const { code, text } = await cli(['policy', 'simulate', '--version', candidate, '--since', '1h'], { PORTCULLIS_GATEWAY: t.gw.url, PORTCULLIS_TOKEN: t.adminKey, HOME: t.dir, XDG_CONFIG_HOME: t.dir });
    assert.equal(code, 0, text);
    assert.match(text, /allowed_to_blocked\s+3/);
    assert.match(text, /no-echo\s+allowed_to_blocked\s+2/);
    assert.match(text, new RegExp(`${ids.echo![0]!}\\s+allow \\[eng-tools\\] → deny \\[no-echo\\]`));
  });

  it('exchanges explain on an MCP record names the server, the tool and the rule that decided', async () => {
    await writeFile(join(t.dir, 'cli.yaml'), `store:\n  url: sqlite:${join(t.dir, 'portcullis.db')}\nmaster_key: env:PCL_TEST_MASTER\nproviders: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\n`);
    const denied = await cli(['exchanges', 'explain', ids.delete_repo![0]!, '--config', join(t.dir, 'cli.yaml')], { PCL_TEST_MASTER: MASTER });
    assert.equal(denied.code, 0, denied.text);
    assert.match(denied.text, /MCP tools\/call on server "tools", tool "delete_repo" \(definition sha256:[0-9a-f]{16}…\)/);
    assert.match(denied.text, /DENIED/);
    assert.match(denied.text, /rule no-delete denies it\s+\[denied_by_rule\]/);
    assert.ok(!denied.text.includes('prod'), 'the arguments are not shown');
    const allowed = await cli(['exchanges', 'explain', ids.echo![0]!, '--config', join(t.dir, 'cli.yaml')], { PCL_TEST_MASTER: MASTER });
    assert.match(allowed.text, /ALLOWED/);
    assert.match(allowed.text, /rule eng-tools allows it/);
  });
});
