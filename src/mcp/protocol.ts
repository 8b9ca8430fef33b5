import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { isModernVersion } from './modern.ts';

/**
 * Streamable HTTP transport rules of the MCP revisions the gateway speaks
 * (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports). 2024-11-05 is accepted as the
 * negotiated revision of a session with a server behind the legacy HTTP+SSE transport (the agent still speaks
 * Streamable HTTP to the gateway; the message format of that revision is the same).
 */
export const SUPPORTED_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;

/**
 * "If the server does not receive an MCP-Protocol-Version header … it SHOULD assume protocol version 2025-03-26"
 * (2025-06-18 §Protocol Version Header); an unsupported value gets 400. A sessionless revision (2026-07-28 and
 * later) passes here: the body's `_meta` envelope decides it, with this header as its cross-check (modern.ts).
 */
export function protocolVersionOf(header: string | string[] | undefined): { version: string } | { invalid: string } {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v === '') return { version: '2025-03-26' };
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v) || /^\d{4}-\d{2}-\d{2}$/.test(v) && isModernVersion(v) ? { version: v } : { invalid: v.slice(0, 40) };
}

/**
 * JSON-RPC batches: 2025-03-26 allowed them; 2025-06-18 removed batching ("The body MUST be a single JSON-RPC
 * request, notification, or response") and 2025-11-25 and 2026-07-28 kept it out. The gateway decides each call on its own, so a
 * batch under 2025-03-26 is refused too, with a message that says it is the gateway's limit (docs/mcp.md).
 */
export function batchRefusal(version: string): string {
  return version === '2025-03-26' || version === '2024-11-05'
    ? 'This gateway governs one JSON-RPC message per request; send the batch as separate requests.'
    : `JSON-RPC batches are not allowed in MCP revision ${version}.`;
}

/** Request headers that go upstream: the transport's own, nothing else (no Authorization, no cookies). */
export const UPSTREAM_REQUEST_HEADERS = ['content-type', 'accept', 'mcp-protocol-version', 'last-event-id'] as const;

/**
 * Session ids the client sees are the upstream's id bound to the caller and the server by an HMAC, so a session
 * id that leaks (logs, another agent) is useless to anyone else: it is "not found" for them (404, the spec's
 * answer to an unknown session, after which a client re-initializes). Stateless: every replica can check it.
 * Format: `pcs1.<base64url upstream id>.<base64url mac>` — visible ASCII, as the spec requires.
 */
export class SessionBinder {
  readonly #key: KeyObject;
  constructor(key: KeyObject) {
    this.#key = key;
  }

  wrap(upstreamId: string, subject: string, server: string): string {
    const id = Buffer.from(upstreamId, 'utf8').toString('base64url');
    return `pcs1.${id}.${this.#mac(id, subject, server)}`;
  }

  /** The upstream id, or undefined when the id was not issued to this caller for this server. */
  unwrap(clientId: string, subject: string, server: string): string | undefined {
    const m = /^pcs1\.([A-Za-z0-9_-]{1,2048})\.([A-Za-z0-9_-]{43})$/.exec(clientId);
    if (!m) return undefined;
    const want = Buffer.from(this.#mac(m[1]!, subject, server));
    const got = Buffer.from(m[2]!);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    return Buffer.from(m[1]!, 'base64url').toString('utf8');
  }

  #mac(id: string, subject: string, server: string): string {
    return createHmac('sha256', this.#key).update(`mcp-session\0${server}\0${subject}\0${id}`).digest('base64url');
  }
}
