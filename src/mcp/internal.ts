import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpDeps } from './http.ts';
import { handlePost } from './post.ts';
import { handleStreamOrDelete } from './stream.ts';

const TOKEN_HEADER = 'x-portcullis-internal';

/**
 * The per-server fronts (`/mcp/<server>`) on a loopback listener (127.0.0.1, random port) that only the gateway
 * itself can use: every request must carry a random token generated at start. The aggregated endpoint calls the
 * per-server fronts here as the caller (its credential, its address and user agent — trusted as forwarded only
 * because the token proves the request comes from the gateway), so the fronts run unchanged. The token and the
 * forwarded headers never go upstream: only the transport's own headers do (protocol.ts).
 */
export class InternalFront {
  readonly url: string;
  readonly #token: string;
  readonly #http: Server;

  private constructor(url: string, token: string, http: Server) {
    this.url = url;
    this.#token = token;
    this.#http = http;
  }

  static async start(d: McpDeps): Promise<InternalFront> {
    const token = randomBytes(32).toString('base64url');
    const want = Buffer.from(token);
    // The caller's address comes in X-Forwarded-For from the aggregated endpoint, which already resolved it.
    const deps: McpDeps = { ...d, limits: { ...d.limits, trustProxy: true } };
    const http = createServer((req, res) => {
      const got = Buffer.from(String(req.headers[TOKEN_HEADER] ?? ''));
      const m = /^\/mcp\/([a-z0-9][a-z0-9_-]{0,62})$/.exec(req.url ?? '');
      if (got.length !== want.length || !timingSafeEqual(got, want) || !m) {
        res.writeHead(404).end();
        return;
      }
      if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
        res.writeHead(405, { allow: 'POST, GET, DELETE' }).end();
        return;
      }
      const work = req.method === 'POST' ? handlePost(deps, m[1]!, req, res) : handleStreamOrDelete(deps, m[1]!, req, res);
      work.catch(() => res.destroy());
    });
    await new Promise<void>((ok, fail) => {
      http.once('error', fail);
      http.listen(0, '127.0.0.1', () => ok());
    });
    const { port } = http.address() as AddressInfo;
    return new InternalFront(`http://127.0.0.1:${port}`, token, http);
  }

  /** Headers of a request made on behalf of `caller`. */
  headersFor(caller: { credential: string | undefined; ip: string | undefined; userAgent: string | undefined }): Record<string, string> {
    const h: Record<string, string> = { [TOKEN_HEADER]: this.#token };
    if (caller.credential !== undefined) h.authorization = `Bearer ${caller.credential}`;
    if (caller.ip !== undefined) h['x-forwarded-for'] = caller.ip;
    if (caller.userAgent !== undefined) h['user-agent'] = caller.userAgent;
    return h;
  }

  async close(): Promise<void> {
    this.#http.closeAllConnections();
    await new Promise<void>((ok) => this.#http.close(() => ok()));
  }
}
