import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectMcp, policyYaml, toolText } from './fixture.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const SERVER = fileURLToPath(new URL('./stdio-server.ts', import.meta.url));
const STORED_TOKEN = 'stdio-upstream-token-' + 'q'.repeat(24);

const POLICY = `
version: 1
defaults: { effect: allow }
rules: []
mcp:
  defaults: { effect: deny }
  rules:
    - id: eng
      effect: allow
      subjects: { groups: [eng] }
      servers: ["*"]
    - id: no-delete
      effect: deny
      servers: ["*"]
      tools: ["delete_*"]
`;

const connect = async (base: string, key: string, server: string): Promise<Client> => (await connectMcp(`${base}/mcp/${server}`, key, 'stdio-test-agent')).client;

const text = toolText;

describe('MCP front: stdio servers launched and supervised by the gateway (real SDK client and stdio server)', () => {
  let t: TestGateway;
  let spawnLog = '';
  const clients: Client[] = [];

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-mcp-stdio-'));
    spawnLog = join(dir, 'spawns.log');
    // In the gateway's environment, never in the server's: the process gets a safe default plus its own `env`.
    process.env.PCL_TEST_GATEWAY_ONLY = 'gateway-secret-value';
    process.env.PCL_TEST_REGION = 'eu-1';
    t = await startTestGateway({
      extraYaml: `${policyYaml(POLICY)}mcp:
  servers:
    - name: local
      command: ${JSON.stringify(process.execPath)}
      args: [${JSON.stringify(SERVER)}]
      env: { REGION: "env:PCL_TEST_REGION" }
      credential: store
      credential_env: UPSTREAM_TOKEN
      stdio: { backoff_initial_ms: 0 }
    - name: crashy
      command: ${JSON.stringify(process.execPath)}
      args: [${JSON.stringify(SERVER)}]
      env: { MCP_TEST_CRASH_ON_START: "1", MCP_TEST_SPAWN_LOG: ${JSON.stringify(spawnLog)} }
      stdio: { backoff_initial_ms: 600000 }
`,
    });
    const put = await fetch(`${t.gw.url}/admin/v1/mcp/servers/local/credential`, {
      method: 'PUT', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ credential: STORED_TOKEN }),
    });
    assert.equal(put.status, 200, await put.text());
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await t?.close();
    delete process.env.PCL_TEST_GATEWAY_ONLY;
  });

  it('a session launches its own process; the agent speaks Streamable HTTP, policy and tools/list filtering apply', async () => {
    const client = await connect(t.gw.url, t.userKey, 'local');
    clients.push(client);
    const names = (await client.listTools()).tools.map((x) => x.name).sort();
    assert.deepEqual(names, ['crash', 'echo', 'environment'], 'the denied tool is not listed');
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'over stdio' } })), 'over stdio');
    await assert.rejects(client.callTool({ name: 'delete_repo', arguments: { name: 'prod' } }), /Policy does not allow the tool "delete_repo"/);
    const rows = await eventually(async () => {
      const r = (await t.gw.store.exchanges.list({ limit: 50 })).filter((e) => e.provider === 'mcp:local' && e.status !== 'in_progress');
      return r.some((e) => e.model === 'echo') && r.some((e) => e.model === 'delete_repo') ? r : undefined;
    });
    assert.equal(rows.find((e) => e.model === 'echo')!.status, 'completed');
    assert.equal(rows.find((e) => e.model === 'delete_repo')!.errorCode, 'denied_by_policy');
  });

  it('the process gets its configured env and the sealed credential, never the gateway\'s environment', async () => {
    const client = await connect(t.gw.url, t.userKey, 'local');
    clients.push(client);
    const env = JSON.parse(text(await client.callTool({ name: 'environment', arguments: {} }))) as Record<string, unknown>;
    assert.equal(env.token_sha256, createHash('sha256').update(STORED_TOKEN).digest('hex'));
    assert.equal(env.region, 'eu-1');
    assert.equal(env.gateway_secret_visible, false);
  });

  it('each session has its own process', async () => {
    const a = await connect(t.gw.url, t.userKey, 'local');
    const b = await connect(t.gw.url, t.userKey, 'local');
    clients.push(a, b);
    const pid = async (c: Client): Promise<number> => (JSON.parse(text(await c.callTool({ name: 'environment', arguments: {} }))) as { pid: number }).pid;
    assert.notEqual(await pid(a), await pid(b));
  });

  it('attack: a server that crashes mid-call fails that call with an error, ends its session, and the next session gets a new process', async () => {
    const client = await connect(t.gw.url, t.userKey, 'local');
    clients.push(client);
    const before = (JSON.parse(text(await client.callTool({ name: 'environment', arguments: {} }))) as { pid: number }).pid;
    await assert.rejects(client.callTool({ name: 'crash', arguments: {} }), /ended the connection before answering/);
    // The session died with its process: the agent is told the session is gone (404), as the spec says.
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 'still there?' } }));
    const row = await eventually(async () => (await t.gw.store.exchanges.list({ model: 'crash', limit: 5 })).find((e) => e.status !== 'in_progress'));
    assert.equal(row.provider, 'mcp:local');
    const again = await connect(t.gw.url, t.userKey, 'local');
    clients.push(again);
    const after = (JSON.parse(text(await again.callTool({ name: 'environment', arguments: {} }))) as { pid: number }).pid;
    assert.notEqual(after, before);
  });

  it('attack: a server that crashes on start is not relaunched in a loop — new sessions wait out the backoff', async () => {
    await assert.rejects(connect(t.gw.url, t.userKey, 'crashy'));
    await assert.rejects(connect(t.gw.url, t.userKey, 'crashy'));
    await assert.rejects(connect(t.gw.url, t.userKey, 'crashy'));
    const spawns = readFileSync(spawnLog, 'utf8').split('\n').filter(Boolean);
    assert.equal(spawns.length, 1, 'one launch, then the backoff refuses new sessions without launching');
  });
});
