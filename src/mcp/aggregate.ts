import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema, CompleteRequestSchema, GetPromptRequestSchema, ListPromptsRequestSchema, ListResourcesRequestSchema, ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema, McpError, ReadResourceRequestSchema, SubscribeRequestSchema, UnsubscribeRequestSchema, type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { toGatewayError } from '../core/errors.ts';
import { clientIp } from '../core/client-ip.ts';
import { errorName } from '../core/logger.ts';
import { readBody } from '../http/body.ts';
import { presentedCredential } from '../proxy/headers.ts';
import { stringMatcher } from '../policy/matchers.ts';
import type { McpAggregateConfig } from './config-schema.ts';
import { authenticateMcp, refuse, sendRpc, type McpDeps } from './http.ts';
import { rpcError, RPC } from './jsonrpc.ts';
import { sessionlessRefusal } from './modern.ts';
import type { InternalFront } from './internal.ts';
import { prefixPromptResult, prefixToolResult, PROMPTS, renameContents, RESOURCES, TEMPLATES, TOOLS, type MemberList } from './aggregate-catalog.ts';
import { memberCapabilities, relayMember } from './aggregate-relay.ts';
import { parseJsonExact } from '../core/json-exact.ts';

/** How long a backend call may go without an answer or a progress notification (a held approval sends progress). */
const CALL_TIMEOUT_MS = 15 * 60_000;
const MAX_PAGES = 20;
const MAX_SESSIONS = 10_000;

interface AggregateSession {
  subject: string;
  transport: StreamableHTTPServerTransport;
  server: Server;
  /** The caller's credential and address as of its latest request: every backend call is made as the caller. */
  caller: { credential: string | undefined; ip: string | undefined; userAgent: string | undefined };
  backends: Map<string, Promise<Client>>;
  /** The agent's requests in flight per member (a member's sampling request goes on the newest one's stream). */
  inflight: Map<string, RequestId[]>;
  lastActivity: number;
}

/**
 * One MCP endpoint for several servers (docs/mcp.md#aggregated-endpoint): tools and prompts are namespaced
 * `<server><separator><name>`, resource URIs and templates `<server><separator><uri>` (aggregate-catalog.ts). It is an MCP server (the SDK's Server) whose handlers are clients of the per-server
 * fronts, reached on the gateway's internal loopback listener (internal.ts) as the caller: so every backend call
 * gets exactly the per-server treatment — identity, the `mcp:` policy with the real server and tool names, pins,
 * detectors, approvals, records — and `tools/list` is the union of the per-server lists as each already filters
 * them for this caller (likewise resources and prompts). Nothing the caller may not see on `/mcp/<server>` appears here, and a server whose
 * `initialize` the policy refuses contributes nothing (not even its name).
 */
export class AggregateFront {
  readonly #d: McpDeps;
  readonly #cfg: McpAggregateConfig;
  readonly #servers: string[];
  readonly #internal: InternalFront;
  readonly #sessions = new Map<string, AggregateSession>();
  readonly #reaper: NodeJS.Timeout;

  constructor(d: McpDeps, cfg: McpAggregateConfig, serverNames: readonly string[], internal: InternalFront) {
    this.#d = d;
    this.#cfg = cfg;
    const member = stringMatcher(cfg.servers)!;
    this.#servers = serverNames.filter((s) => member(s));
    this.#internal = internal;
    this.#reaper = setInterval(() => this.#reapIdle(), 60_000);
    this.#reaper.unref();
  }

  get servers(): readonly string[] {
    return this.#servers;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const principal = await authenticateMcp(this.#d, { resourcePath: this.#cfg.path }, req, res);
    if (!principal) return;
    const sid = req.headers['mcp-session-id'];
    let s: AggregateSession | undefined;
    if (sid !== undefined) {
      s = typeof sid === 'string' ? this.#sessions.get(sid) : undefined;
      // Bound to its caller: another identity presenting the id is told it does not exist (as on /mcp/<server>).
      if (!s || s.subject !== principal.subject) return refuse(res, 404, null, 'session_not_found', 'Session not found; initialize a new session.');
    } else if (req.method !== 'POST') {
      return refuse(res, 400, null, 'session_not_found', 'Initialize a session with a POST first.');
    } else if (this.#sessions.size >= MAX_SESSIONS) {
      return refuse(res, 503, null, 'upstream_unavailable', 'Too many aggregated MCP sessions; try again later.');
    }
    let body: unknown;
    if (req.method === 'POST') {
      try {
        const raw = await readBody(req, { limit: this.#d.limits.maxBodyBytes, timeoutMs: this.#d.limits.bodyTimeoutMs });
        body = parseJsonExact(raw.toString('utf8'));
      } catch (err) {
        if (err instanceof SyntaxError) return sendRpc(res, 400, rpcError(null, RPC.parseError, 'The body is not valid JSON.'));
        const g = toGatewayError(err);
        return refuse(res, g.status, null, g.code === 'body_too_large' ? 'body_too_large' : 'request_timeout', g.publicMessage);
      }
      if (Array.isArray(body)) return refuse(res, 400, null, 'batch_not_allowed', 'This gateway governs one JSON-RPC message per request; send separate requests.');
      const sessionless = sessionlessRefusal(req, body);
      if (sessionless) return sendRpc(res, 400, sessionless);
    }
    const caller = { credential: presentedCredential(req.headers), ip: clientIp(req, this.#d.limits.trustProxy), userAgent: req.headers['user-agent'] };
    if (!s) {
      s = await this.#open(principal.subject, caller);
      await s.transport.handleRequest(req, res, body);
      // Not an initialize request (the transport answered 400): nothing else will reach this session.
      if (s.transport.sessionId === undefined) await this.#end(s);
      return;
    }
    s.caller = caller;
    s.lastActivity = this.#d.clock.now();
    await s.transport.handleRequest(req, res, body);
  }

  async #open(subject: string, caller: AggregateSession['caller']): Promise<AggregateSession> {
    const server = new Server({ name: 'portcullis-aggregate', version: '1.0.0' }, {
      capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true }, prompts: { listChanged: true }, completions: {} },
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void this.#sessions.set(id, s),
      onsessionclosed: () => void this.#end(s),
    });
    const s: AggregateSession = { subject, transport, server, caller, backends: new Map(), inflight: new Map(), lastActivity: this.#d.clock.now() };
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await this.#listAll(s, TOOLS) }));
    server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: await this.#listAll(s, PROMPTS) }));
    server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: await this.#listAll(s, RESOURCES) }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: await this.#listAll(s, TEMPLATES) }));
    // Each is made on `/mcp/<server>` as the caller: its policy (resources:/prompts: globs), detectors and record.
    server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => {
      const { target, name } = this.#route(req.params.uri, 'resource', 'resource URIs');
      const r = await this.#onBackend(s, target, extra.requestId, (c) => c.readResource({ ...req.params, uri: name }, { signal: extra.signal }));
      return renameContents(this.#prefix(target), r);
    });
    // Subscriptions route like reads; the member's notifications/resources/updated come back prefixed (aggregate-relay.ts).
    server.setRequestHandler(SubscribeRequestSchema, async (req, extra) => {
      const { target, name } = this.#route(req.params.uri, 'resource', 'resource URIs');
      return this.#onBackend(s, target, extra.requestId, (c) => c.subscribeResource({ ...req.params, uri: name }, { signal: extra.signal }));
    });
    server.setRequestHandler(UnsubscribeRequestSchema, async (req, extra) => {
      const { target, name } = this.#route(req.params.uri, 'resource', 'resource URIs');
      return this.#onBackend(s, target, extra.requestId, (c) => c.unsubscribeResource({ ...req.params, uri: name }, { signal: extra.signal }));
    });
    server.setRequestHandler(GetPromptRequestSchema, async (req, extra) => {
      const { target, name } = this.#route(req.params.name, 'prompt', 'prompt names');
      return prefixPromptResult(this.#prefix(target), await this.#onBackend(s, target, extra.requestId, (c) => c.getPrompt({ ...req.params, name }, { signal: extra.signal })));
    });
    // Completion of a prompt's argument or a resource template's variable: routed by the prompt's or template's prefix.
    server.setRequestHandler(CompleteRequestSchema, async (req, extra) => {
      const ref = req.params.ref;
      const { target, name } = ref.type === 'ref/prompt' ? this.#route(ref.name, 'prompt', 'prompt names') : this.#route(ref.uri, 'resource', 'resource URIs');
      const local = ref.type === 'ref/prompt' ? { ...ref, name } : { ...ref, uri: name };
      return this.#onBackend(s, target, extra.requestId, (c) => c.complete({ ...req.params, ref: local }, { signal: extra.signal }));
    });
    server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
      const { target, name } = this.#route(req.params.name, 'tool', 'tool names');
      const token = req.params._meta?.progressToken;
      const r = await this.#onBackend(s, target, extra.requestId, (client) =>
        client.callTool({ name, arguments: req.params.arguments ?? {} }, undefined, {
          signal: extra.signal, timeout: CALL_TIMEOUT_MS, resetTimeoutOnProgress: true,
          // Progress of the backend call (a held approval's keep-alive) reaches the agent under its own token.
          onprogress: (p) => {
            if (token !== undefined) void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => undefined);
          },
        }));
      // resource_link URIs name the member's resources: prefixed so the agent reads them back through /mcp.
      return prefixToolResult(this.#prefix(target), r);
    });
    transport.onclose = () => void this.#end(s);
    await server.connect(transport);
    return s;
  }

  #prefix(server: string): string {
    return `${server}${this.#cfg.separator}`;
  }

  /** `<server><sep><name>` → the member and its own name; anything else names nothing on this endpoint. */
  #route(full: string, what: string, names: string): { target: string; name: string } {
    const cut = full.indexOf(this.#cfg.separator);
    const target = cut > 0 ? full.slice(0, cut) : '';
    if (!this.#servers.includes(target)) {
      throw new McpError(RPC.invalidParams, `No ${what} "${full.slice(0, 200)}" on this endpoint; ${names} are <server>${this.#cfg.separator}<${what === 'resource' ? 'uri' : what}>.`);
    }
    return { target, name: full.slice(cut + this.#cfg.separator.length) };
  }

  /** One request on a member's front as the caller; its refusal reaches the agent unchanged (passOn). */
  async #onBackend<T>(s: AggregateSession, target: string, agentRequest: RequestId, call: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.#backend(s, target).catch((err: unknown) => {
      throw passOn(err);
    });
    const open = s.inflight.get(target) ?? [];
    s.inflight.set(target, [agentRequest, ...open]);
    try {
      return await call(client);
    } catch (err) {
      // Not a JSON-RPC refusal: the backend session may be gone (its stdio process ended): reconnect next time.
      if (!(err instanceof McpError)) this.#drop(s, target);
      throw passOn(err);
    } finally {
      const still = (s.inflight.get(target) ?? []).filter((id) => id !== agentRequest);
      if (still.length > 0) s.inflight.set(target, still);
      else s.inflight.delete(target);
    }
  }

  /** The per-server front of `server`, as this caller, connected once per aggregated session. */
  #backend(s: AggregateSession, server: string): Promise<Client> {
    let c = s.backends.get(server);
    if (!c) {
      c = this.#connect(s, server);
      s.backends.set(server, c);
      c.catch(() => s.backends.delete(server));
    }
    return c;
  }

  async #connect(s: AggregateSession, server: string): Promise<Client> {
    const capabilities = memberCapabilities(s.server.getClientCapabilities());
    const client = new Client({ name: `portcullis-aggregate/${server}`, version: '1.0.0' }, { capabilities });
    const transport = new StreamableHTTPClientTransport(new URL(`${this.#internal.url}/mcp/${server}`), {
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        for (const [k, v] of Object.entries(this.#internal.headersFor(s.caller))) headers.set(k, v);
        return fetch(url, { ...init, headers });
      },
    });
    relayMember(client, { agent: s.server, prefix: this.#prefix(server), capabilities, relatedRequest: () => s.inflight.get(server)?.[0] });
    await client.connect(transport);
    return client;
  }

  /** The union of every member server's list as the per-server front shows it to this caller, names namespaced. */
  async #listAll<T>(s: AggregateSession, kind: MemberList<T>): Promise<T[]> {
    const lists = await Promise.all(this.#servers.map(async (server) => {
      try {
        const client = await this.#backend(s, server);
        const out: T[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < MAX_PAGES; page++) {
          const r = await kind.page(client, cursor);
          out.push(...r.items.map((x) => kind.rename(this.#prefix(server), x)));
          cursor = r.nextCursor;
          if (!cursor) break;
        }
        return out;
      } catch (err) {
        // Refused (policy), unreachable, failing or without that kind (method not found): the server contributes
        // nothing; the per-server record says why. A refusal keeps the connection for the other kinds.
        if (!(err instanceof McpError)) this.#drop(s, server);
        this.#d.logger.debug({ event: 'mcp_aggregate_member_skipped', provider: `mcp:${server}`, error_name: errorName(err) });
        return [];
      }
    }));
    return lists.flat();
  }

  /** Forgets a member's backend connection (closing it): the next use connects anew. */
  #drop(s: AggregateSession, server: string): void {
    const c = s.backends.get(server);
    s.backends.delete(server);
    void c?.then((client) => client.close()).catch(() => undefined);
  }

  async #end(s: AggregateSession): Promise<void> {
    if (s.transport.sessionId !== undefined && this.#sessions.get(s.transport.sessionId) !== s) return;
    if (s.transport.sessionId !== undefined) this.#sessions.delete(s.transport.sessionId);
    const backends = [...s.backends.values()];
    s.backends.clear();
    await Promise.allSettled(backends.map(async (c) => {
      const client = await c;
      await (client.transport as StreamableHTTPClientTransport | undefined)?.terminateSession().catch(() => undefined);
      await client.close();
    }));
    await s.transport.close().catch(() => undefined);
  }

  #reapIdle(): void {
    const cutoff = this.#d.clock.now() - this.#cfg.idle_session_ms;
    for (const s of this.#sessions.values()) if (s.lastActivity < cutoff) void this.#end(s);
  }

  async close(): Promise<void> {
    clearInterval(this.#reaper);
    await Promise.allSettled([...this.#sessions.values()].map((s) => this.#end(s)));
  }
}

/**
 * A refusal from a per-server front reaches the agent as the same JSON-RPC error (code, message, `data.portcullis`),
 * not wrapped: the agent sees why, exactly as on `/mcp/<server>`.
 */
function passOn(err: unknown): Error {
  if (err instanceof McpError) {
    const e = new Error(err.message.replace(/^MCP error -?\d+: /, '')) as Error & { code: number; data: unknown };
    e.code = err.code;
    e.data = err.data;
    return e;
  }
  return new McpError(RPC.unavailable, 'The MCP server did not answer the call.');
}
