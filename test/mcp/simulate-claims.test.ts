import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { runCli } from '../../src/cli/main.ts';
import type { ExchangeRow } from '../../src/store/ports.ts';
import { connectMcp, policyYaml } from './fixture.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startResourceIdp, type ResourceIdp } from './resource-idp.ts';
import { startUpstreamMcp, type UpstreamMcp } from './upstream-server.ts';

/**
 * `policy simulate` replays rules on the caller's claims with the values they were decided on — an MCP rule's
 * `principal.claims` condition and an LLM rule's `subjects.claims`: the claims the rules read are sealed into the
 * record's decision (src/audit/claims-snapshot.ts). The caller holds real tokens of a real authorization server
 * (oidc-provider), so `sub` is a real verified claim.
 */
const TOKEN = 'simulate-claims-upstream-' + 'c'.repeat(16);
const MASTER = randomBytes(32).toString('base64');
const claimRule = (sub: string): string => `
version: 1
defaults: { effect: allow }
rules:
  - { id: agent-no-mini, effect: deny, subjects: { claims: { sub: "${sub}" } }, resources: { models: [gpt-4o-mini] } }
mcp:
  defaults: { effect: deny }
  rules:
    - { id: eng-tools, effect: allow, subjects: { groups: [eng] }, servers: [tools] }
    - id: agent-no-delete
      effect: deny
      servers: [tools]
      tools: [delete_repo]
      when: 'has(principal.claims.sub) && principal.claims.sub == "${sub}"'
`;

interface Simulation { evaluated: number; unchanged: number; skipped: number; records: { exchange_id: string; change: string }[] }

describe('policy simulate replays MCP and LLM rules on the caller\'s recorded claims', () => {
  let idp: ResourceIdp;
  let upstream: UpstreamMcp;
  let t: TestGateway;
  const ids: { agentDelete?: string; keyDelete?: string; agentMini?: string } = {};

  const simulate = async (source: string): Promise<Simulation> => {
    const pushed = await fetch(`${t.gw.url}/admin/v1/policies`, {
      method: 'POST', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ source, message: 'candidate' }),
    });
    assert.equal(pushed.status, 201, await pushed.clone().text());
    const version = `v${String(((await pushed.json()) as { number: number }).number)}`;
    const r = await fetch(`${t.gw.url}/admin/v1/policies/${version}/simulate`, {
      method: 'POST', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ since: '1h' }),
    });
    assert.equal(r.status, 200);
    return (await r.json()) as Simulation;
  };

  before(async () => {
    idp = await startResourceIdp();
    upstream = await startUpstreamMcp({ token: TOKEN });
    process.env.PCL_TEST_SIMCLAIMS_TOKEN = TOKEN;
    t = await startTestGateway({
      masterKey: MASTER,
      extraYaml: `
identity:
  oidc:
    - { name: corp, issuer: "${idp.issuer}", client_id: portcullis, algorithms: [RS256], groups: { claim: groups }, bearer: { audience: "https://llm.portcullis.test/" } }
${policyYaml(claimRule('agent-1'))}mcp:
  servers:
    - { name: tools, url: "${upstream.url}", credential: "env:PCL_TEST_SIMCLAIMS_TOKEN" }
`,
    });
    // The agent (a token with sub agent-1) is refused delete_repo by the claim rule; a key holder (no claims) is not.
    const agent = (await connectMcp(`${t.gw.url}/mcp/tools`, await idp.tokenFor(`${t.gw.url}/mcp/tools`), 'agent')).client;
    await agent.listTools();
    await agent.callTool({ name: 'echo', arguments: { text: 'hi' } });
    await assert.rejects(agent.callTool({ name: 'delete_repo', arguments: { name: 'scratch' } }), /Policy does not allow the tool "delete_repo"/);
    await agent.close();
    // The same identity on the LLM endpoints, with a token for their audience: gpt-4o-mini is refused by its claim.
    const openai = new OpenAI({ apiKey: await idp.tokenFor('https://llm.portcullis.test/'), baseURL: t.openaiBase, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }), /Denied by rule "agent-no-mini"/);
    const user = (await connectMcp(`${t.gw.url}/mcp/tools`, t.userKey, 'user')).client;
    await user.callTool({ name: 'delete_repo', arguments: { name: 'scratch' } });
    await user.close();
    const rows = await eventually(async () => {
      const all = (await t.gw.store.exchanges.list({ model: 'delete_repo', limit: 10 })).filter((r) => r.status !== 'in_progress');
      return all.length === 2 ? all : undefined;
    }, 10_000);
    ids.agentDelete = rows.find((r) => r.subject === 'user:agent-1')!.id;
    ids.keyDelete = rows.find((r) => r.subject !== 'user:agent-1')!.id;
    ids.agentMini = (await eventually(async () => (await t.gw.store.exchanges.list({ model: 'gpt-4o-mini', limit: 10 })).find((r) => r.status !== 'in_progress'))).id;
  });
  after(async () => {
    await t?.close();
    await upstream?.close();
    await idp?.close();
  });

  it('the record keeps the claim names in clear and their values sealed', async () => {
    const row = (await t.gw.store.exchanges.get(ids.agentDelete!)) as ExchangeRow;
    const claims = (row.decision as { claims?: { names: string[]; sealed: string } }).claims!;
    assert.ok(claims.names.includes('sub') && claims.names.includes('aud'), JSON.stringify(claims.names));
    assert.ok(!JSON.stringify(row.decision).includes(idp.issuer), 'the claim values (here `iss`) are not in the decision in clear');
    assert.ok(!Buffer.from(claims.sealed, 'base64').toString('latin1').includes(idp.issuer), 'sealed, not encoded');
    const keyRow = (await t.gw.store.exchanges.get(ids.keyDelete!)) as ExchangeRow;
    assert.equal((keyRow.decision as { claims?: unknown }).claims, undefined, 'a Portcullis key has no claims to record');
  });

  it('the live policy replayed gives the live decisions: the claim rule matches the agent\'s call again', async () => {
    const sim = await simulate(claimRule('agent-1'));
    assert.equal(sim.skipped, 0);
    assert.ok(sim.evaluated >= 5, String(sim.evaluated));
    assert.deepEqual(sim.records, [], 'no decision changes');
  });

  it('a candidate naming another subject in the claim conditions reports exactly the agent\'s refused MCP and LLM calls as newly allowed', async () => {
    const sim = await simulate(claimRule('agent-2'));
    assert.deepEqual(sim.records.map((r) => [r.exchange_id, r.change]).sort(), [[ids.agentDelete, 'blocked_to_allowed'], [ids.agentMini, 'blocked_to_allowed']].sort());
  });

  it('exchanges explain names the claims the rules could read, never their values', async () => {
    await writeFile(join(t.dir, 'cli.yaml'), `store:\n  url: sqlite:${join(t.dir, 'portcullis.db')}\nmaster_key: env:PCL_TEST_MASTER\nproviders: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\n`);
    const out: Buffer[] = [];
    const stdout = new PassThrough().on('data', (c: Buffer) => out.push(c));
    const code = await runCli(['exchanges', 'explain', ids.agentDelete!, '--config', join(t.dir, 'cli.yaml')], { stdin: new PassThrough(), stdout, stderr: stdout, env: { PCL_TEST_MASTER: MASTER }, cwd: t.dir });
    const text = Buffer.concat(out).toString();
    assert.equal(code, 0, text);
    assert.match(text, /rule agent-no-delete denies it/);
    assert.match(text, /claims the rules could read: .*\bsub\b.* \(values sealed in the record\)/);
    assert.ok(!text.includes(idp.issuer), 'no claim value is printed');
  });
});
