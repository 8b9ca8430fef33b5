import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Header hygiene. Hop-by-hop headers (RFC 9110 §7.6.1) never cross the proxy; client credentials are stripped
 * (the provider key is injected by the gateway, a client-sent provider key must never reach the upstream);
 * content-length is recomputed; we ask the upstream for identity encoding because the gateway must read the
 * body to record and inspect it.
 */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authorization', 'proxy-authenticate',
]);

const STRIP_REQUEST = new Set([
  ...HOP_BY_HOP, 'host', 'content-length', 'authorization', 'x-api-key', 'api-key', 'cookie', 'accept-encoding',
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'expect',
  // OpenAI org/project selectors belong to the gateway's provider account, not the caller.
  'openai-organization', 'openai-project',
]);

const STRIP_RESPONSE = new Set([...HOP_BY_HOP, 'content-length', 'content-encoding', 'set-cookie', 'server', 'date']);

export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, inject: Record<string, string>, bodyLength: number): Record<string, string> {
  const out: Record<string, string> = {};
  const connectionListed = listedInConnection(incoming.connection);
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || STRIP_REQUEST.has(name) || name.startsWith('x-portcullis-') || connectionListed.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  out['accept-encoding'] = 'identity';
  out['content-length'] = String(bodyLength);
  return Object.assign(out, inject);
}

export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connectionListed = listedInConnection(upstream.connection);
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || STRIP_RESPONSE.has(name) || connectionListed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). */
function listedInConnection(value: string | string[] | undefined): Set<string> {
  if (!value) return new Set();
  const s = Array.isArray(value) ? value.join(',') : value;
  return new Set(s.split(',').map((v) => v.trim().toLowerCase()).filter(Boolean));
}

/** The credential a client presented: `Authorization: Bearer …` (OpenAI, Anthropic SDK ≥1) or `x-api-key` (Anthropic SDK 0.x). */
export function presentedCredential(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const x = headers['x-api-key'];
  if (typeof x === 'string' && x.length > 0) return x.trim();
  const azure = headers['api-key'];
  if (typeof azure === 'string' && azure.length > 0) return azure.trim();
  return undefined;
}
