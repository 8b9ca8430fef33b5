import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Dispatcher } from 'undici';
import { SessionlessUpstreams } from './sessionless.ts';
import type { McpUpstream, UpstreamRequest } from './upstream.ts';

/** A Streamable HTTP server that answers `server/discover` per its current era, and holds 2025-era sessions. */
function fakeServer(name: string) {
  const s = { name, modern: false, probes: 0, opened: 0, ended: [] as string[] };
  const answer = (status: number, json: unknown, headers: Record<string, string> = {}): Dispatcher.ResponseData => ({
    statusCode: status,
    headers: { 'content-type': 'application/json', ...headers },
    body: Object.assign(Readable.from(json === undefined ? [] : [Buffer.from(JSON.stringify(json))]), { dump: async () => undefined }),
  }) as unknown as Dispatcher.ResponseData;
  const upstream = {
    name,
    transport: 'streamable-http',
    async request(r: UpstreamRequest): Promise<Dispatcher.ResponseData> {
      if (r.method === 'DELETE') {
        s.ended.push(String(r.sessionId));
        return answer(200, undefined);
      }
      const msg = JSON.parse(String(r.body)) as { id?: string; method: string };
      if (msg.method === 'server/discover') {
        s.probes++;
        if (!s.modern) return answer(400, { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
        return answer(200, { jsonrpc: '2.0', id: msg.id, result: { supportedVersions: ['2026-07-28'], capabilities: {}, serverInfo: { name, version: '2' } } });
      }
      if (msg.method === 'initialize') {
        s.opened++;
        return answer(200, { jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name, version: '1' } } }, { 'mcp-session-id': `${name}-s${s.opened}` });
      }
      return answer(202, undefined);
    },
  } as unknown as McpUpstream;
  return { s, upstream };
}

describe('sessionless upstreams: a server era is re-probed', () => {
  it('a server upgraded to 2026-07-28 is spoken to in its new era after the TTL, and its held sessions end with it', async () => {
    let now = 1_000_000;
    const ups = new SessionlessUpstreams({ now: () => now, eraTtlMs: 60_000 });
    const a = fakeServer('a');
    const b = fakeServer('b');
    assert.equal(await ups.era(a.upstream), 'legacy');
    assert.equal(await ups.era(b.upstream), 'legacy');
    const heldA = await ups.session(a.upstream, 'alice');
    const heldB = await ups.session(b.upstream, 'alice');
    assert.equal(heldA.id, 'a-s1');

    a.s.modern = true; // the server is upgraded
    now += 59_000;
    assert.equal(await ups.era(a.upstream), 'legacy', 'within the TTL the remembered era holds (no probe per request)');
    assert.equal(a.s.probes, 1);
    now += 2_000;
    assert.equal(await ups.era(a.upstream), 'modern');
    assert.equal(a.s.probes, 2);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(a.s.ended, ['a-s1'], "the upgraded server's gateway-held session is ended there");
    assert.deepEqual(b.s.ended, [], "another server's session is not ended, nor sent to the wrong server");

    // A later session with b is a new one only when b forgets the old.
    assert.equal(await ups.session(b.upstream, 'alice'), heldB);
  });

  it('concurrent requests share one probe; a failed probe is not remembered', async () => {
    const ups = new SessionlessUpstreams({ now: () => 0 });
    const a = fakeServer('a');
    const eras = await Promise.all([ups.era(a.upstream), ups.era(a.upstream), ups.era(a.upstream)]);
    assert.deepEqual(eras, ['legacy', 'legacy', 'legacy']);
    assert.equal(a.s.probes, 1);

    const failing = { name: 'down', transport: 'streamable-http', request: () => Promise.reject(new Error('connect ECONNREFUSED')) } as unknown as McpUpstream;
    await assert.rejects(ups.era(failing));
    await new Promise((r) => setImmediate(r));
    await assert.rejects(ups.era(failing), 'probed again, not a remembered failure');
  });

  it('the session held longest is ended with the server it was held with, when the cap is reached', async () => {
    const ups = new SessionlessUpstreams({ maxSessions: 2 });
    const a = fakeServer('a');
    const b = fakeServer('b');
    await ups.session(a.upstream, 'alice');
    await ups.session(a.upstream, 'bob');
    await ups.session(b.upstream, 'carol'); // evicts a/alice: its DELETE goes to a, not to b
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(a.s.ended, ['a-s1']);
    assert.deepEqual(b.s.ended, []);
  });
});
