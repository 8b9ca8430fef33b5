import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import pg from 'pg';
import { startFleet, type Fleet } from '../helpers/fleet.ts';

// The harness the fleet tests and `npm run bench:fleet` stand on: prove that what it claims is real — three
// replica processes behind a real nginx answer real SDK calls, nginx spreads them, a replica restarts on its port,
// and the database proxy's modes do to a PostgreSQL client what they say.
describe('fleet harness', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet({ replicas: 3 });
  });
  after(async () => {
    await fleet?.close();
  });

  it('three replicas behind nginx answer the openai SDK, spread over all three', async () => {
    const client = new OpenAI({ baseURL: `${fleet.lb!.url}/v1`, apiKey: fleet.adminKey, maxRetries: 0 });
    for (let i = 0; i < 6; i++) {
      const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hello ${i}` }] });
      assert.match(r.choices[0]?.message.content ?? '', new RegExp(`hello ${i}`), 'the mock echoes the prompt through nginx and a replica');
    }
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'streamed' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.match(text, /streamed/);
    const served = fleet.lb!.accessLog().filter((e) => e.path === '/v1/chat/completions');
    assert.equal(served.length, 7, `nginx logged every call: ${JSON.stringify(served)}`);
    assert.ok(served.every((e) => e.status === 200), JSON.stringify(served));
    const replicas = new Set(served.map((e) => e.upstream));
    assert.deepEqual([...replicas].sort(), fleet.replicas.map((r) => `127.0.0.1:${r.port}`).sort(), 'round robin reached every replica');
  });

  it('the admin key works on every replica directly; each replica is its own process with its own audit chain', async () => {
    const pids = new Set<number>();
    for (const r of fleet.replicas) {
      const res = await fetch(`${r.url}/admin/v1/keys`, { headers: { authorization: `Bearer ${fleet.adminKey}` } });
      assert.equal(res.status, 200, `replica ${r.index}: ${await res.text()}`);
      pids.add(r.proc!.pid!);
      assert.match(r.configFile, new RegExp(`replica-${r.index}`));
    }
    assert.equal(pids.size, 3);
    const db = new pg.Client({ connectionString: fleet.directStoreUrl });
    await db.connect();
    try {
      // Every replica chained the exchanges it served (the first test reached all three) under its own writer id.
      const { rows } = await db.query<{ writer: string }>("SELECT DISTINCT writer FROM audit_entries WHERE writer LIKE 'fleet-%' ORDER BY writer");
      assert.deepEqual(rows.map((x) => x.writer), ['fleet-0', 'fleet-1', 'fleet-2']);
    } finally {
      await db.end();
    }
  });

  it('kill and restart: a SIGKILLed replica is gone, comes back on its port and serves again', async () => {
    const old = fleet.replicas[1]!.proc!.pid;
    await fleet.kill(1);
    assert.equal(fleet.replicas[1]!.proc, undefined);
    await assert.rejects(fetch(`${fleet.replicas[1]!.url}/healthz`), 'nothing listens on the killed replica');
    await fleet.restart(1);
    assert.notEqual(fleet.replicas[1]!.proc!.pid, old);
    const res = await fetch(`${fleet.replicas[1]!.url}/readyz`);
    assert.equal(res.status, 200);
    assert.equal(await fleet.terminate(2), 0, `SIGTERM drains and exits 0:\n${fleet.replicas[2]!.logs().slice(-2000)}`);
    await fleet.restart(2);
  });

  it('the database proxy: silent holds a client\'s query without an answer, pass delivers it; refuse and drop-all cut', async () => {
    const proxy = fleet.dbProxy!;
    const client = new pg.Client({ connectionString: fleet.storeUrl });
    client.on('error', () => undefined); // drop-all resets it: expected below
    await client.connect();
    assert.equal((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);

    proxy.setMode('silent');
    let settled = false;
    const pending = client.query<{ n: number }>('SELECT 42 AS n').finally(() => void (settled = true));
    // The query's bytes reached the proxy and stay there; without a reply the client cannot have an answer.
    await until(() => proxy.held() > 0);
    assert.equal(settled, false, 'a silent proxy forwarded nothing, so the query cannot have settled');
    proxy.setMode('pass');
    assert.equal((await pending).rows[0]?.n, 42, 'bytes held during the partition are delivered when it heals');

    proxy.setMode('refuse');
    const refused = new pg.Client({ connectionString: fleet.storeUrl });
    await assert.rejects(refused.connect(), 'a new connection is closed at once');
    assert.equal((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1, 'refuse leaves open connections alone');

    proxy.setMode('drop-all');
    await assert.rejects(client.query('SELECT 1'), 'drop-all destroyed the open connection');
    proxy.setMode('pass');
    const after = new pg.Client({ connectionString: fleet.storeUrl });
    await after.connect();
    assert.equal((await after.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1, 'the database is reachable again');
    await after.end();
    await client.end().catch(() => undefined);
    // The replicas survived the database going away and coming back (their own recovery is test/fleet's subject).
  });
});

async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((ok) => setTimeout(ok, 10));
  }
}
