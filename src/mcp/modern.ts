import type { IncomingHttpHeaders } from 'node:http';
import { classify, type JsonRpcId, type McpMessage } from './jsonrpc.ts';

/**
 * The sessionless MCP revision 2026-07-28 (https://modelcontextprotocol.io/specification/2026-07-28): no
 * `initialize` and no `Mcp-Session-Id`; every request carries the protocol version, the client's capabilities and
 * client info in a `_meta` envelope, and the transport repeats the version and the method in the
 * `MCP-Protocol-Version` / `Mcp-Method` headers (plus `Mcp-Name` for `tools/call`, `prompts/get`,
 * `resources/read`), which must agree with the body (SEP-2243). `server/discover` replaces the handshake,
 * `subscriptions/listen` replaces the GET stream and `resources/subscribe`, and a server that needs the client
 * (sampling, elicitation, roots) answers `resultType: "input_required"` with `inputRequests` instead of sending a
 * request (SEP-2322, multi round-trip requests); the client retries with `inputResponses`.
 */
export const MODERN_VERSIONS = ['2026-07-28'] as const;
/** Revision identifiers are ISO dates: this one and later belong to the sessionless era. */
export const FIRST_MODERN_VERSION = '2026-07-28';
/** The session-based revisions the gateway speaks (protocol.ts), newest first. */
export const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
const ENVELOPE_KEYS = [META_PROTOCOL_VERSION, META_CLIENT_INFO, META_CLIENT_CAPABILITIES, 'io.modelcontextprotocol/logLevel'];

/** JSON-RPC codes of 2026-07-28: `-32022` UnsupportedProtocolVersion (data `{supported, requested}`), `-32020` HeaderMismatch. */
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
export const HEADER_MISMATCH = -32020;

export const isModernVersion = (v: string): boolean => v >= FIRST_MODERN_VERSION;

/** Results of these methods may be `input_required` (SEP-2322); every other result is `complete`. */
export const MULTI_ROUND_TRIP = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** `Mcp-Name` mirrors this body field (SEP-2243 "Standard Request Headers"). */
const NAME_FIELD: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

export type Era =
  | { era: 'legacy' }
  | { era: 'modern'; version: string }
  | { reject: { status: number; code: number; message: string; data?: Record<string, unknown> } };

/** The protocol version a message claims in its `_meta` envelope, if it carries one. */
export function envelopeVersion(msg: McpMessage): string | undefined {
  if (msg.kind === 'response') return undefined;
  const meta = msg.params?._meta;
  const v = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>)[META_PROTOCOL_VERSION] : undefined;
  return typeof v === 'string' ? v : undefined;
}

const one = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h[0] : h);

/**
 * Which era a POST belongs to. Body first (the envelope claim), the `MCP-Protocol-Version` header as a cross-check,
 * as the 2026-07-28 transport says: a claim and a header that disagree, an `Mcp-Method` / `Mcp-Name` that does not
 * mirror the body, or a modern request without the headers are refused (`-32020`, HTTP 400); a claimed revision
 * the gateway does not speak gets `-32022` with the supported list (a negotiating client then retries with one).
 */
export function eraOf(headers: IncomingHttpHeaders, msg: McpMessage): Era {
  const header = one(headers['mcp-protocol-version']);
  const claim = envelopeVersion(msg);
  const claimed = claim ?? (header !== undefined && isModernVersion(header) ? header : undefined);
  if (claimed === undefined) return { era: 'legacy' };
  if (!isModernVersion(claimed)) {
    return { reject: { status: 400, code: HEADER_MISMATCH, message: `The _meta envelope claims ${claimed.slice(0, 40)}, a revision that has no envelope; send it as a session-based request.` } };
  }
  if (!(MODERN_VERSIONS as readonly string[]).includes(claimed)) return { reject: unsupportedVersion(claimed) };
  if (claim === undefined && msg.kind === 'request') {
    return { reject: { status: 400, code: -32602, message: `A ${claimed} request must carry the _meta envelope (${META_PROTOCOL_VERSION}, ${META_CLIENT_CAPABILITIES}).` } };
  }
  if (msg.kind !== 'request') return header !== undefined && header !== claimed ? mismatch('MCP-Protocol-Version', claimed) : { era: 'modern', version: claimed };
  if (header !== claimed) return mismatch('MCP-Protocol-Version', claimed);
  if (one(headers['mcp-method']) !== msg.method) return mismatch('Mcp-Method', msg.method);
  const field = NAME_FIELD[msg.method];
  if (field !== undefined) {
    const v = msg.params?.[field];
    if (typeof v === 'string' && decodeHeaderValue(one(headers['mcp-name'])) !== v) return mismatch('Mcp-Name', `params.${field}`);
  }
  return { era: 'modern', version: claimed };
}

function mismatch(header: string, what: string): Era {
  return { reject: { status: 400, code: HEADER_MISMATCH, message: `The ${header} header must be present and mirror the body (${what.slice(0, 80)}).` } };
}

/** The `-32022` answer: what the gateway speaks, so the client can pick one (2026-07-28 "Version Negotiation"). */
export function unsupportedVersion(requested: string): { status: number; code: number; message: string; data: Record<string, unknown> } {
  const supported = [...MODERN_VERSIONS, ...LEGACY_VERSIONS];
  return {
    status: 400, code: UNSUPPORTED_PROTOCOL_VERSION, message: `Unsupported protocol version; this gateway speaks ${supported.join(', ')}.`,
    data: { supported, requested: requested.slice(0, 40), portcullis: { code: 'unsupported_protocol_version' } },
  };
}

/** SEP-2243 value encoding: `=?base64?…?=` carries a value that is not plain visible ASCII. */
function decodeHeaderValue(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const m = /^=\?base64\?([A-Za-z0-9+/=]*)\?=$/.exec(v);
  return m ? Buffer.from(m[1]!, 'base64').toString('utf8') : v;
}

function encodeHeaderValue(v: string): string {
  return /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(v) && !(v.startsWith('=?base64?') && v.endsWith('?=')) ? v : `=?base64?${Buffer.from(v, 'utf8').toString('base64')}?=`;
}

/**
 * The standard headers of a request as it goes upstream, derived from the body the gateway forwards (after masking
 * or restoring), never copied from the client: they must mirror what the server gets.
 */
export function standardHeaders(body: Record<string, unknown>, version: string): Record<string, string> {
  const out: Record<string, string> = { 'mcp-protocol-version': version };
  if (typeof body.method !== 'string' || body.id === undefined) return out;
  out['mcp-method'] = body.method;
  const field = NAME_FIELD[body.method];
  const params = body.params as Record<string, unknown> | undefined;
  const v = field === undefined ? undefined : params?.[field];
  if (typeof v === 'string') out['mcp-name'] = encodeHeaderValue(v);
  return out;
}

/**
 * The `Mcp-Param-{Name}` headers of a `tools/call` (2026-07-28 Streamable HTTP, "Schema Extension"): each property
 * reachable through `properties` chains whose schema carries `x-mcp-header` mirrors its argument value (strings as
 * they are, integers and booleans as text, encoded like `Mcp-Name`; absent or non-primitive values omitted).
 * Derived from the arguments the gateway forwards, so a masked or restored value is what the header carries.
 */
export function paramHeaders(inputSchema: unknown, args: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (schema: unknown, value: unknown, depth: number): void => {
    if (depth > 32 || typeof schema !== 'object' || schema === null) return;
    const props = (schema as { properties?: unknown }).properties;
    if (typeof props !== 'object' || props === null) return;
    for (const [key, sub] of Object.entries(props as Record<string, unknown>)) {
      const v = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
      const name = typeof sub === 'object' && sub !== null ? (sub as Record<string, unknown>)['x-mcp-header'] : undefined;
      const text = typeof v === 'string' ? v : typeof v === 'boolean' || (typeof v === 'number' && Number.isSafeInteger(v)) ? String(v) : undefined;
      if (typeof name === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) && text !== undefined) out[`mcp-param-${name.toLowerCase()}`] = encodeHeaderValue(text);
      walk(sub, v, depth + 1);
    }
  };
  walk(inputSchema, args, 0);
  return out;
}

/** A 2026-07-28 request as a session-based server reads it: the per-request envelope and round-trip fields removed. */
export function toLegacyRequest(body: Record<string, unknown>): Record<string, unknown> {
  const params = body.params as Record<string, unknown> | undefined;
  if (!params) return body;
  const { inputResponses: _r, requestState: _s, ...rest } = params;
  const meta = rest._meta as Record<string, unknown> | undefined;
  if (meta && typeof meta === 'object') {
    const kept = Object.fromEntries(Object.entries(meta).filter(([k]) => !ENVELOPE_KEYS.includes(k)));
    if (Object.keys(kept).length > 0) rest._meta = kept;
    else delete rest._meta;
  }
  return { ...body, params: rest };
}

/** Results 2026-07-28 marks cacheable (`ttlMs`, `cacheScope` required). */
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read', 'server/discover']);

/**
 * A session-based server's answer as a 2026-07-28 client reads it: every result says `resultType: "complete"`, and a
 * cacheable one is not to be cached (`ttlMs: 0`): the gateway, not the server, decides what the caller may see.
 */
export function toModernAnswer(message: Record<string, unknown>, method: string): Record<string, unknown> {
  const r = message.result;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || 'resultType' in r) return privateCache(message, method);
  const cache = CACHEABLE.has(method) ? { ttlMs: 0, cacheScope: 'private' } : {};
  return { ...message, result: { resultType: 'complete', ...cache, ...r } };
}

/**
 * A cacheable result through the gateway is `cacheScope: "private"` (2026-07-28 caching): lists are filtered per
 * caller and results scanned per policy, so no shared cache may hand one caller's answer to another.
 */
export function privateCache(message: Record<string, unknown>, method: string): Record<string, unknown> {
  const r = message.result as Record<string, unknown> | undefined;
  if (!CACHEABLE.has(method) || typeof r !== 'object' || r === null || r.resultType !== 'complete' || r.cacheScope === 'private') return message;
  return { ...message, result: { ...r, cacheScope: 'private', ttlMs: typeof r.ttlMs === 'number' ? r.ttlMs : 0 } };
}

/** `server/discover` answered for a session-based server, from its `initialize` result. */
export function discoverResult(id: JsonRpcId, init: Record<string, unknown>): Record<string, unknown> {
  const caps = { ...(init.capabilities as Record<string, unknown> | undefined) };
  // Tasks and resource subscriptions have no 2026-07-28 form through the gateway (docs/mcp.md "Not built yet").
  delete caps.tasks;
  if (typeof caps.resources === 'object' && caps.resources !== null) caps.resources = { ...caps.resources as Record<string, unknown>, subscribe: false };
  return {
    jsonrpc: '2.0', id,
    result: {
      resultType: 'complete', ttlMs: 0, cacheScope: 'private', supportedVersions: [...MODERN_VERSIONS], capabilities: caps,
      ...(typeof init.instructions === 'string' ? { instructions: init.instructions } : {}),
      ...(typeof init.serverInfo === 'object' && init.serverInfo !== null ? { _meta: { [META_SERVER_INFO]: init.serverInfo } } : {}),
    },
  };
}

/** The embedded requests of an `input_required` result (SEP-2322): `{key: {method, params}}`, or undefined. */
export function inputRequestsOf(message: Record<string, unknown>): Record<string, { method?: unknown; params?: unknown }> | undefined {
  const r = message.result as Record<string, unknown> | undefined;
  if (!r || r.resultType !== 'input_required') return undefined;
  const ir = r.inputRequests;
  return typeof ir === 'object' && ir !== null && !Array.isArray(ir) ? (ir as Record<string, { method?: unknown; params?: unknown }>) : {};
}

/**
 * The aggregated endpoint speaks the session-based revisions only (docs/mcp.md "Not built yet"): a 2026-07-28
 * request gets `-32022` naming them, so a negotiating client falls back to `initialize` there.
 */
export function sessionlessRefusal(req: { headers: IncomingHttpHeaders }, body: unknown): Record<string, unknown> | undefined {
  const msg = classify(body);
  const claimed = (msg ? envelopeVersion(msg) : undefined) ?? one(req.headers['mcp-protocol-version']);
  if (claimed === undefined || !isModernVersion(claimed)) return undefined;
  const id = msg?.kind === 'request' ? msg.id : null;
  return {
    jsonrpc: '2.0', id,
    error: {
      code: UNSUPPORTED_PROTOCOL_VERSION, message: `The aggregated endpoint speaks ${LEGACY_VERSIONS.join(', ')}; ${claimed.slice(0, 40)} (sessionless) is served at /mcp/<server>.`,
      data: { supported: [...LEGACY_VERSIONS], requested: claimed.slice(0, 40), portcullis: { code: 'unsupported_protocol_version' } },
    },
  };
}
