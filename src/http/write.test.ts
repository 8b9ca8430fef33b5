import assert from 'node:assert/strict';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { writeWithBackpressure } from './write.ts';

/**
 * A real server writes 64 KiB pieces to a client that reads slowly, so most writes wait for `drain`: the waits
 * must not leave listeners behind (the export's old `Promise.race` of two `once` left a `close` and an `error`
 * listener per full buffer), and every byte must arrive.
 */
test('writeWithBackpressure waits for drain and leaves no listener behind', async () => {
  const piece = 'x'.repeat(64 * 1024);
  const pieces = 200;
  let seen: { close: number; error: number; drain: number; waits: number } | undefined;
  const server = createServer((_req, res: ServerResponse) => {
    void (async () => {
      let waits = 0;
      res.on('drain', () => waits++);
      const before = { close: res.listenerCount('close'), error: res.listenerCount('error'), drain: res.listenerCount('drain') };
      for (let i = 0; i < pieces; i++) await writeWithBackpressure(res, piece);
      seen = {
        close: res.listenerCount('close') - before.close, error: res.listenerCount('error') - before.error,
        drain: res.listenerCount('drain') - before.drain, waits,
      };
      res.end();
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/' });
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let bytes = 0;
  for await (const c of res) {
    bytes += (c as Buffer).length;
    await new Promise((r) => setImmediate(r)); // a slow reader: the server's buffer fills
  }
  server.close();
  assert.equal(bytes, piece.length * pieces);
  assert.ok(seen!.waits > 0, 'the writer waited for drain at least once');
  assert.deepEqual({ close: seen!.close, error: seen!.error, drain: seen!.drain }, { close: 0, error: 0, drain: 0 });
});
