import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Answers given before the body was read (413, 401, 404, 405, 431): a client that writes its whole body before it
 * reads — as most SDK HTTP stacks do — must read the answer, not a connection reset; and the gateway drains such a
 * body only within a bound, never for as long as a client cares to send.
 */
describe('early answers reach eager uploaders (lingering close)', () => {
  let t: TestGateway;
  let port: number;
  before(async () => {
    // An MCP server the gateway fronts (never reached: the body is refused before anything is forwarded).
    t = await startTestGateway({ extraYaml: 'mcp:\n  servers:\n    - { name: tools, url: "http://127.0.0.1:9/mcp" }\n' });
    port = Number(new URL(t.gw.url).port);
  });
  after(() => t.close());

  /** Writes the head and `size` body bytes, and only then reads: what it read first, or how it failed. */
  const eagerUpload = (head: string, size: number) => new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`${e.code}`));
    s.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    s.pause();
    s.write(head);
    s.write(Buffer.alloc(size, 0x61), () => {
      s.resume();
      s.end();
    });
  });
  const SIZE = 12 * 1024 * 1024;
  const post = (path: string, headers: string) => `POST ${path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n${headers}content-length: ${SIZE}\r\n\r\n`;

  it('413 (data path, admin, auth, MCP), 401, unknown path, wrong method, header floods: the client reads the answer, every time', async () => {
    const bearer = `authorization: Bearer ${t.userKey}\r\n`;
    const cases: [string, string, string][] = [
      ['body over max_body_bytes', post('/v1/chat/completions', bearer), '413'],
      ['bad key before the body is read', post('/v1/chat/completions', 'authorization: Bearer pcl_bad\r\n'), '401'],
      ['unknown API path', post('/v1/nope', bearer), '404'],
      ['wrong method', post('/v1/chat/completions', bearer).replace('POST', 'PUT'), '405'],
      ['too many headers', post('/v1/chat/completions', bearer + Array.from({ length: 150 }, (_, i) => `x-h${i}: v\r\n`).join('')), '431'],
      ['header block too large', post('/v1/chat/completions', `${bearer}x-pad: ${'p'.repeat(40_000)}\r\n`), '431'],
      ['unknown admin path', post('/admin/v1/nope', bearer), '404'],
      // Admin and auth bodies are read through the same bounded reader: a body over their limit is a 413, and the
      // request stays readable (leaving a `for await` loop destroyed it, and the admin recorder then crashed).
      ['admin body over its limit', post('/admin/v1/keys', `authorization: Bearer ${t.adminKey}\r\n`), '413'],
      ['auth endpoint body over its limit', post('/auth/token', '').replace('application/json', 'application/x-www-form-urlencoded'), '413'],
      ['MCP body over its limit', post('/mcp/tools', `${bearer}accept: application/json, text/event-stream\r\n`), '413'],
    ];
    for (const [name, head, status] of cases) {
      for (let i = 0; i < 3; i++) {
        const first = await eagerUpload(head, SIZE);
        assert.match(first, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: got ${first}`);
      }
    }
    assert.equal((await fetch(`${t.gw.url}/healthz`)).status, 200, 'the gateway is still up');
  });

  it('the official SDK uploading a body over the limit gets the 413 as an APIError', async () => {
    const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(SIZE) }] }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 413);
      assert.equal(err.code, 'body_too_large');
      return true;
    });
  });

  it('the drain is bounded: a client that keeps sending after a 401 is cut off, not read to the end', async () => {
    const declared = 1024 * 1024 * 1024;
    const written = await new Promise<number>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let ok = 0;
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      const pump = (): void => {
        if (ok >= declared) return void s.end();
        s.write(chunk, (err) => {
          if (err) return;
          ok += chunk.length;
          pump();
        });
      };
      s.on('error', () => resolve(ok));
      s.on('close', () => resolve(ok));
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer pcl_bad\r\ncontent-length: ${declared}\r\n\r\n`);
      pump();
    });
    assert.ok(written < 256 * 1024 * 1024, `the gateway stopped reading after the bound (client wrote ${written} bytes of ${declared})`);
  });
});
