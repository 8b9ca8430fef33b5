import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { createAuditRepoFor } from './store-reopen.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Roll and drain (docs/fleet.md) on one replica: SIGTERM's shutdown stops accepting and reports not ready, lets a
 * stream that fits the grace finish, cuts one that does not with the protocol's error event and records it as ended
 * by the shutdown (not a client abort), ends the replica's lease; a SQLite gateway restarted after a crash recovers
 * its own earlier run.
 */
describe('fleet: drain on shutdown', () => {
  async function openStream(gw: TestGateway, text: string) {
    const client = new OpenAI({ baseURL: gw.openaiBase, apiKey: gw.userKey, maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: text }] }).withResponse();
    const it = data[Symbol.asyncIterator]();
    await it.next();
    const rest = async (): Promise<string> => {
      let text = '';
      for (let r = await it.next(); !r.done; r = await it.next()) text += r.value.choices[0]?.delta?.content ?? '';
      return text;
    };
    return { id: response.headers.get('x-portcullis-exchange-id')!, rest };
  }

  /** A kept-alive connection: a slow stream first, then — once it ended — another request on the same connection. */
  async function keptAlive(gw: TestGateway): Promise<{ firstBytes: Promise<void>; streamEnded: Promise<void>; send(raw: string): Promise<string> }> {
    const url = new URL(gw.gw.url);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((ok, fail) => socket.once('connect', ok).once('error', fail));
    socket.write(chatRequest(gw, true, 'finishes within the grace'));
    let answer = '';
    let ended: () => void = () => undefined;
    const streamEnded = new Promise<void>((ok) => (ended = ok));
    const firstBytes = new Promise<void>((ok) => socket.once('data', () => ok()));
    socket.on('data', (d: Buffer) => {
      answer += d.toString('utf8');
      if (answer.includes('\r\n0\r\n\r\n')) ended(); // the chunked stream's last chunk
    });
    const closed = new Promise<string>((ok) => socket.on('close', () => ok(answer)));
    return {
      firstBytes, streamEnded,
      async send(raw) {
        socket.write(raw);
        return closed;
      },
    };
  }

  const chatRequest = (gw: TestGateway, stream: boolean, text: string): string => {
    const body = JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content: text }] });
    return `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gw.userKey}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };

  it('draining: /readyz says not ready at once while requests are still served for shutdown_delay_ms; then the listener closes', async () => {
    const g = await startTestGateway({ server: { shutdown_delay_ms: 60_000, shutdown_grace_ms: 1000 } });
    const closing = g.gw.close();
    try {
      const ready = await fetch(`${g.gw.url}/readyz`);
      assert.equal(ready.status, 503, 'not ready as soon as the shutdown began');
      assert.deepEqual(await ready.json(), { status: 'not_ready', reason: 'shutting_down' });
      const client = new OpenAI({ baseURL: g.openaiBase, apiKey: g.userKey, maxRetries: 0 });
      const served = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'still served during the delay' }] });
      assert.match(served.choices[0]!.message.content!, /still served/, 'a load balancer that has not yet seen /readyz fail still gets answers');
    } finally {
      void g.gw.close(); // as a second SIGTERM: ends the delay
      await closing;
      await g.mock.close();
    }
    await assert.rejects(fetch(`${g.gw.url}/readyz`), 'the listener is closed');
  });

  it('a stream that finishes within the grace completes; the next request on its kept-alive connection is refused (503, connection: close) or finds it closed, never served', async () => {
    const g = await startTestGateway({ mockChunks: 40, mockDelayMs: 50 });
    const dbFile = join(g.dir, 'portcullis.db');
    try {
      const conn = await keptAlive(g);
      await conn.firstBytes;
      const closing = g.gw.close();
      await conn.streamEnded;
      const answer = await conn.send(chatRequest(g, false, 'too late'));
      const parts = answer.split(/(?=HTTP\/1\.1 \d{3})/);
      assert.match(parts[0]!, /^HTTP\/1\.1 200[\s\S]*data: \[DONE\]/, 'the stream ran to its end');
      // A request that reaches the draining replica on the kept-alive connection is refused in the caller's
      // protocol. When the drain finished first (the stream was its last exchange), the replica may instead have
      // closed the idle connection before the request arrived — RFC 9112 §9.6 lets a server close an idle
      // persistent connection, and clients retry such a request elsewhere; what it must never do is serve it.
      assert.ok(parts.length <= 2, `at most two answers on the connection: ${answer.slice(-400)}`);
      if (parts.length === 2) {
        assert.match(parts[1]!, /^HTTP\/1\.1 503[\s\S]*connection: close[\s\S]*"code":"overloaded"/i, `a request reaching the draining replica: ${parts[1]!.slice(0, 300)}`);
      }
      await closing;
    } finally {
      await g.mock.close();
    }
    const { store } = await createAuditRepoFor(dbFile);
    try {
      const rows = await store.exchanges.list({ limit: 10 });
      assert.deepEqual(rows.map((r) => `${r.status}/${r.errorCode ?? ''}`), ['completed/'], 'the stream was recorded completed; the refused request did nothing');
      assert.deepEqual(await store.replicas.list(), [], 'the lease was released at shutdown');
    } finally {
      await store.close();
    }
  });

  it('a stream still running when the grace ends gets the error event and is recorded incomplete/gateway_shutdown, chained', async () => {
    const g = await startTestGateway({ mockChunks: 200, mockDelayMs: 50, server: { shutdown_grace_ms: 300 } });
    const dbFile = join(g.dir, 'portcullis.db');
    const stream = await openStream(g, 'cut by the shutdown');
    const closing = g.gw.close();
    await assert.rejects(stream.rest(), (err: Error) => {
      assert.match(err.message, /shut down before the answer was complete/, `the SDK saw: ${err.message}`);
      return true;
    });
    await closing;
    await g.mock.close();
    const { store, audit } = await createAuditRepoFor(dbFile);
    try {
      const row = await store.exchanges.get(stream.id);
      assert.equal(row?.status, 'incomplete');
      assert.equal(row?.errorCode, 'gateway_shutdown', `recorded as ${row?.status}/${row?.errorCode}, not a client abort`);
      const writer = (await audit.writers())[0]!;
      const entries = await audit.entries({ writer, afterSeq: 0, limit: 1000 });
      const finished = entries.filter((e) => e.refId === stream.id && e.kind === 'exchange.finished');
      assert.equal(finished.length, 1);
      assert.equal(finished[0]!.payload.error_code, 'gateway_shutdown');
    } finally {
      await store.close();
    }
  });

  it("a SQLite gateway restarted after a crash ends its earlier run's in-flight exchanges as gateway_restarted, chained", async () => {
    const masterKey = randomBytes(32).toString('base64');
    const first = await startTestGateway({ masterKey });
    const dbFile = join(first.dir, 'portcullis.db');
    // What a crash leaves: an unexpired lease of the earlier process and an exchange it was serving.
    const now = Date.now();
    const earlier = 'crashed-1.abcd';
    await first.gw.store.replicas.heartbeat({ id: earlier, writer: 'crashed-1', startedAt: now, heartbeatAt: now, expiresAt: now + 3_600_000 });
    const id = `ex_crash${randomBytes(6).toString('hex')}`;
    await first.gw.store.exchanges.start({
      id, startedAt: now, subject: 'user:alice', principal: null, endpoint: 'openai.chat', method: 'POST', path: '/v1/chat/completions', model: 'gpt-4o',
      provider: 'openai', upstreamModel: 'gpt-4o', stream: true, clientIp: null, userAgent: null, decision: null, findings: [], clientRequest: null, upstreamRequest: null, owner: earlier,
    });
    await first.close();
    const second = await startTestGateway({ masterKey, storeUrl: `sqlite:${dbFile}` });
    try {
      const row = await second.gw.store.exchanges.get(id);
      assert.equal(row?.status, 'incomplete');
      assert.equal(row?.errorCode, 'gateway_restarted');
      assert.ok(!(await second.gw.store.replicas.list()).some((l) => l.id === earlier), 'the earlier lease is gone');
      const repo = second.gw.evidence.audit.repo;
      const writer = second.gw.evidence.audit.log.writerId;
      const entries = await repo.entries({ writer, afterSeq: 0, limit: 1000 });
      assert.equal(entries.filter((e) => e.refId === id && e.kind === 'exchange.finished').length, 1, 'its end is chained once');
    } finally {
      await second.close();
    }
  });
});
