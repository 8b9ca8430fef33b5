import type { IncomingHttpHeaders } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { resolveSecretRef } from '../config/secrets.ts';
import { GatewayError } from '../core/errors.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { CredentialRepo } from '../store/ports.ts';
import type { GatewayLogger } from '../core/logger.ts';
import { LoopbackBridge } from './bridge.ts';
import { mcpTransportOf, type McpServerConfig, type McpTransportKind } from './config-schema.ts';
import { legacySseFactory, stdioFactory, type CredentialCell } from './transports.ts';
import { UPSTREAM_REQUEST_HEADERS } from './protocol.ts';

/** Name of a server's credential in the sealed credential store (shared with provider keys). */
export const credentialName = (server: string): string => `mcp:${server}`;
export const credentialAad = (server: string): string => `mcp/${server}`;

export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'DELETE';
  incoming: IncomingHttpHeaders;
  /** The upstream session id (already unwrapped from the client's bound id). */
  sessionId: string | undefined;
  body?: Buffer | undefined;
  signal: AbortSignal;
  /** Long-lived server-to-client streams have no idle limit. */
  stream?: boolean;
  /** Transport headers the gateway sets itself (they replace the client's): a translated or derived request's own. */
  headers?: Record<string, string> | undefined;
}

/**
 * One upstream MCP server: its connection pool and the credential the gateway (never the client) presents.
 * Only the transport's own headers go upstream (protocol.ts), so the client's token, cookies or any other header
 * never reach the server.
 */
export class McpUpstream {
  readonly name: string;
  readonly #cfg: McpServerConfig;
  readonly #pool: Pool;
  readonly #origin: string;
  readonly #path: string;
  readonly #credential: CredentialCell;
  readonly #bridge: LoopbackBridge | undefined;

  /** `bridge`: the server sits behind the loopback bridge (stdio, 2024-11-05 SSE), which gets its own token. */
  constructor(cfg: McpServerConfig, credential: CredentialCell, bridge?: LoopbackBridge) {
    this.name = cfg.name;
    this.#cfg = cfg;
    const u = new URL(bridge?.url ?? cfg.url!);
    this.#origin = u.origin;
    this.#path = `${u.pathname}${u.search}`;
    this.#pool = new Pool(this.#origin, { connections: 64 });
    this.#credential = credential;
    this.#bridge = bridge;
  }

  get transport(): McpTransportKind {
    return mcpTransportOf(this.#cfg);
  }

  /** The bridge's live sessions (stdio processes, SSE streams); undefined for a Streamable HTTP server. */
  get bridgedSessions(): number | undefined {
    return this.#bridge?.sessions;
  }

  setCredential(value: string): void {
    this.#credential.value = value;
  }

  async request(r: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = {};
    for (const h of UPSTREAM_REQUEST_HEADERS) {
      const v = r.incoming[h];
      if (typeof v === 'string') headers[h] = v;
    }
    if (r.headers) Object.assign(headers, r.headers);
    if (r.sessionId !== undefined) headers['mcp-session-id'] = r.sessionId;
    if (r.body) headers['content-length'] = String(r.body.length);
    if (this.#bridge) headers.authorization = `Bearer ${this.#bridge.token}`;
    else if (this.#credential.value !== undefined) {
      const v = this.#credential.value;
      headers[this.#cfg.credential_header.toLowerCase()] = this.#cfg.credential_scheme ? `${this.#cfg.credential_scheme} ${v}` : v;
    }
    try {
      return await this.#pool.request({
        origin: this.#origin, path: this.#path, method: r.method, headers, body: r.body, signal: r.signal,
        headersTimeout: this.#cfg.timeouts.first_byte_ms, bodyTimeout: r.stream ? 0 : this.#cfg.timeouts.idle_ms,
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code.includes('TIMEOUT')) throw new GatewayError('upstream_timeout', `MCP server "${this.name}" did not answer in time.`, { cause: err });
      throw new GatewayError('upstream_unavailable', `MCP server "${this.name}" could not be reached or closed the connection.`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.#pool.close();
    await this.#bridge?.close();
  }
}

/** Builds every configured server; a credential reference that cannot be resolved stops the start with its key path. */
export async function startUpstreams(o: {
  servers: readonly McpServerConfig[]; credentials: CredentialRepo; keyring: Keyring; baseDir: string; env: NodeJS.ProcessEnv;
  logger: GatewayLogger; now: () => number;
}): Promise<Map<string, McpUpstream>> {
  const out = new Map<string, McpUpstream>();
  for (const [i, s] of o.servers.entries()) {
    let credential: string | undefined;
    if (s.credential === 'store') {
      const stored = await o.credentials.get(credentialName(s.name));
      credential = stored ? o.keyring.open('provider-credentials', stored.sealed, credentialAad(s.name)).toString('utf8') : undefined;
    } else if (s.credential) {
      try {
        credential = await resolveSecretRef(s.credential, { baseDir: o.baseDir, env: o.env });
      } catch (err) {
        throw new Error(`mcp.servers[${i}].credential: ${(err as Error).message}`);
      }
    }
    const cell: CredentialCell = { value: credential };
    const kind = mcpTransportOf(s);
    if (kind === 'streamable-http') {
      out.set(s.name, new McpUpstream(s, cell));
      continue;
    }
    const factory = kind === 'stdio' ? stdioFactory(s, await resolveEnv(s, i, o), cell, o.logger) : legacySseFactory(s, cell);
    const bridge = await LoopbackBridge.start({
      server: s.name, factory, logger: o.logger, now: o.now, maxSessions: s.stdio.max_processes, idleSessionMs: s.stdio.idle_session_ms,
      backoffInitialMs: s.stdio.backoff_initial_ms, backoffMaxMs: s.stdio.backoff_max_ms,
    });
    out.set(s.name, new McpUpstream(s, cell, bridge));
  }
  return out;
}

/** A stdio server's `env`: each value a secret reference or literal text, resolved once at start. */
async function resolveEnv(s: McpServerConfig, i: number, o: { baseDir: string; env: NodeJS.ProcessEnv }): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.env)) {
    try {
      out[k] = await resolveSecretRef(v, { baseDir: o.baseDir, env: o.env });
    } catch (err) {
      throw new Error(`mcp.servers[${i}].env.${k}: ${(err as Error).message}`);
    }
  }
  return out;
}
