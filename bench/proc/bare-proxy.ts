// Benchmark child: the floor for any Node gateway — a bare pass-through proxy on node:http + undici, no parsing,
// no auth, no recording. Prints its URL on stdout.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const upstream = process.env.UPSTREAM!;
const pool = new Pool(upstream, { connections: 256 });
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    pool
      .request({ path: req.url!, method: req.method as 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer upstream', 'content-length': String(body.length) }, body })
      .then(async (up) => {
        res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
        for await (const c of up.body) res.write(c);
        res.end();
      })
      .catch(() => {
        res.writeHead(502);
        res.end();
      });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
