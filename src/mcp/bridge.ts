import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayLogger } from '../core/logger.ts';

/** Opens one new connection to a server for one MCP session: a launched process (stdio) or an SSE stream (2024-11-05). */
export interface SessionTransportFactory {
  open(): Transport;
}

export interface BridgeOptions {
  server: string;
  factory: SessionTransportFactory;
  logger: GatewayLogger;
  now: () => number;
  /** Live sessions at most (each holds a process or a stream). */
  maxSessions: number;
  /** A session without a request for this long is ended and its connection closed. */
  idleSessionMs: number;
  /** After a connection ends that the gateway did not end: pause new sessions, doubling per crash in a row. */
  backoffInitialMs: number;
  backoffMaxMs: number;
}

interface Session {
  http: StreamableHTTPServerTransport;
  upstream: Transport;
  lastActivity: number;
  /** Client requests not yet answered, with their progress token: where the server's own messages belong. */
  inflight: Map<RequestId, unknown>;
  closing: boolean;
  /** The connection ended without the gateway ending it. */
  lost: boolean;
}

/**
 * The gateway speaks Streamable HTTP to agents and relays Streamable HTTP upstream (relay.ts); a server behind
 * another transport sits behind this bridge: a loopback HTTP endpoint (127.0.0.1, random port, a random bearer
 * token only the gateway holds) where the official SDK's StreamableHTTPServerTransport terminates each session and
 * forwards every JSON-RPC message, unchanged, to that session's own connection (a process for stdio, an SSE stream
 * for the 2024-11-05 transport). So identity, policy, pins, detectors and records run exactly as for any HTTP
 * server, in front of the bridge, and the bridge itself decides nothing.
 *
 * One connection per session: stdio servers serve one client each (MCP "Transports": the client launches the
 * server as its subprocess), and a 2024-11-05 server keys its state by SSE connection. A connection that ends
 * without the gateway ending it (a crash) ends its session — the agent's next request gets 404 and it
 * re-initializes — and pauses new sessions with exponential backoff, so a server that crashes on start does not
 * get relaunched in a loop.
 */
export class LoopbackBridge {
  readonly url: string;
  readonly token: string;
  readonly #o: BridgeOptions;
  readonly #http: Server;
  readonly #sessions = new Map<string, Session>();
  readonly #reaper: NodeJS.Timeout;
  #crashesInARow = 0;
  #pausedUntil = 0;
  #closed = false;

  private constructor(o: BridgeOptions, http: Server, url: string, token: string) {
    this.#o = o;
    this.#http = http;
    this.url = url;
    this.token = token;
    this.#reaper = setInterval(() => this.#reapIdle(), Math.min(o.idleSessionMs, 60_000));
    this.#reaper.unref();
  }

  static async start(o: BridgeOptions): Promise<LoopbackBridge> {
    const token = randomBytes(32).toString('base64url');
    const ref: { bridge?: LoopbackBridge } = {};
    const http = createServer((req, res) => void ref.bridge!.#handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((ok, fail) => {
      http.once('error', fail);
      http.listen(0, '127.0.0.1', () => ok());
    });
    const { port } = http.address() as AddressInfo;
    ref.bridge = new LoopbackBridge(o, http, `http://127.0.0.1:${port}/mcp`, token);
    return ref.bridge;
  }

  /** Live sessions (each with its own process or stream). */
  get sessions(): number {
    return this.#sessions.size;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#authorized(req.headers.authorization)) {
      res.writeHead(401).end();
      return;
    }
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const s = this.#sessions.get(sid);
      if (!s) {
        res.writeHead(404).end();
        return;
      }
      s.lastActivity = this.#o.now();
      await s.http.handleRequest(req, res);
      return;
    }
    // Without a session only an initialize POST is meaningful; the SDK transport refuses anything else with 400.
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const refusal = this.#admission();
    if (refusal) {
      res.writeHead(503, { 'retry-after': String(Math.ceil(refusal / 1000)) }).end();
      return;
    }
    const s = await this.#open();
    if (!s) {
      res.writeHead(502).end();
      return;
    }
    await s.http.handleRequest(req, res);
    // Not an initialize request (the transport answered 400): nothing else will reach this connection.
    if (s.http.sessionId === undefined) await this.#end(s);
  }

  #authorized(header: string | undefined): boolean {
    const want = Buffer.from(`Bearer ${this.token}`);
    const got = Buffer.from(header ?? '');
    return got.length === want.length && timingSafeEqual(got, want);
  }

  /** Milliseconds to wait before a new session may start, or 0. */
  #admission(): number {
    if (this.#closed) return 1000;
    const wait = this.#pausedUntil - this.#o.now();
    if (wait > 0) return wait;
    return this.#sessions.size >= this.#o.maxSessions ? 1000 : 0;
  }

  async #open(): Promise<Session | undefined> {
    const upstream = this.#o.factory.open();
    const http = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void this.#sessions.set(id, s),
      onsessionclosed: () => void this.#endHealthy(s),
    });
    const s: Session = { http, upstream, lastActivity: this.#o.now(), inflight: new Map(), closing: false, lost: false };
    http.onmessage = (m) => {
      s.lastActivity = this.#o.now();
      if ('method' in m && 'id' in m) s.inflight.set(m.id, (m.params?._meta as { progressToken?: unknown } | undefined)?.progressToken);
      upstream.send(m).catch(() => this.#crashed(s, 'send_failed'));
    };
    upstream.onmessage = (m) => void this.#toClient(s, m);
    upstream.onclose = () => this.#crashed(s, 'closed');
    // Errors are reported out of band and are not necessarily fatal (SDK Transport); a fatal one also closes.
    upstream.onerror = () => this.#o.logger.warn({ event: 'mcp_bridge_transport_error', provider: `mcp:${this.#o.server}` });
    http.onclose = () => void this.#end(s);
    try {
      await upstream.start();
    } catch {
      this.#crashed(s, 'start_failed');
      return undefined;
    }
    return s;
  }

  /**
   * A message from the server. Responses find their request's stream by id (the SDK transport does that). A
   * request or notification goes with the client request it belongs to — by progress token, else the latest one
   * still open — so a server asking something during a tool call reaches the agent on that call's stream even when
   * the agent opened no GET stream; with no request open it goes to the GET stream.
   */
  async #toClient(s: Session, m: JSONRPCMessage): Promise<void> {
    let related: RequestId | undefined;
    if ('id' in m && !('method' in m)) {
      if (m.id !== undefined) s.inflight.delete(m.id);
      // The server answered: it works, so a later crash starts the backoff from the beginning.
      this.#crashesInARow = 0;
    } else {
      const token = 'params' in m ? (m.params as { progressToken?: unknown } | undefined)?.progressToken : undefined;
      for (const [id, t] of s.inflight) if (token === undefined || t === token) related = id;
    }
    try {
      await s.http.send(m, related === undefined ? undefined : { relatedRequestId: related });
    } catch {
      // The request's stream is gone (client went away): a request or notification can still use the GET stream.
      if (related !== undefined) await s.http.send(m).catch(() => undefined);
    }
  }

  #crashed(s: Session, why: string): void {
    if (s.closing || s.lost) return;
    s.lost = true;
    void this.#failInflight(s).finally(() => this.#end(s));
    this.#crashesInARow++;
    const pause = Math.min(this.#o.backoffMaxMs, this.#o.backoffInitialMs * 2 ** (this.#crashesInARow - 1));
    this.#pausedUntil = this.#o.now() + pause;
    this.#o.logger.warn({ event: 'mcp_server_connection_lost', provider: `mcp:${this.#o.server}`, reason: why, count: this.#crashesInARow, duration_ms: pause }, 'MCP server connection ended; its session ends');
  }

  /** The agent's open requests get an error now instead of waiting for a connection that is gone. */
  async #failInflight(s: Session): Promise<void> {
    const ids = [...s.inflight.keys()];
    s.inflight.clear();
    await Promise.allSettled(ids.map((id) => s.http.send({
      jsonrpc: '2.0', id, error: { code: -32002, message: `MCP server "${this.#o.server}" ended the connection before answering (process exited or stream closed).` },
    })));
  }

  async #end(s: Session): Promise<void> {
    if (s.closing) return;
    s.closing = true;
    if (s.http.sessionId !== undefined) this.#sessions.delete(s.http.sessionId);
    await Promise.allSettled([s.upstream.close(), s.http.close()]);
  }

  /** A session ended by the gateway resets the crash count: the server served it. */
  async #endHealthy(s: Session): Promise<void> {
    this.#crashesInARow = 0;
    await this.#end(s);
  }

  #reapIdle(): void {
    const cutoff = this.#o.now() - this.#o.idleSessionMs;
    for (const s of this.#sessions.values()) if (s.lastActivity < cutoff && s.inflight.size === 0) void this.#endHealthy(s);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#reaper);
    await Promise.allSettled([...this.#sessions.values()].map((s) => this.#endHealthy(s)));
    this.#http.closeAllConnections();
    await new Promise<void>((ok) => this.#http.close(() => ok()));
  }
}
