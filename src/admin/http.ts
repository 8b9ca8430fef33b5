import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../core/errors.ts';
import { utf8Text } from '../core/text.ts';
import { readBody } from '../http/body.ts';
import type { Principal } from '../core/principal.ts';
import type { AuthContext } from '../identity/authenticator.ts';
import type { Role } from '../identity/roles.ts';
import { presentedCredential } from '../proxy/headers.ts';

export type Authenticate = (credential: string | undefined, ctx: AuthContext) => Promise<Principal>;

/**
 * Admin endpoints are deny-by-default: the caller must authenticate and hold one of the listed roles.
 * A user key without an admin role gets 403 (no self-escalation).
 */
export async function requireRole(authenticate: Authenticate, req: IncomingMessage, roles: readonly Role[]): Promise<Principal> {
  const principal = await authenticate(presentedCredential(req.headers), { sourceIp: req.socket.remoteAddress, userAgent: req.headers['user-agent'] });
  if (!principal.roles.some((r) => (roles as readonly string[]).includes(r))) {
    throw new GatewayError('forbidden', `This endpoint requires one of the roles: ${roles.join(', ')}.`);
  }
  return principal;
}

/** Slow-client guard for admin bodies (the data plane's is `server.request_body_timeout_ms`). */
const BODY_TIMEOUT_MS = 30_000;

export async function readJson(req: IncomingMessage, limit = 1024 * 1024): Promise<Record<string, unknown>> {
  const raw = await readBody(req, { limit, timeoutMs: BODY_TIMEOUT_MS });
  if (raw.length === 0) return {};
  const text = utf8Text(raw);
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new GatewayError('invalid_json', 'Request body must be a JSON object.');
  }
}

export function queryOf(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
}

/** A query parameter holding an instant (ISO 8601, as every list route takes `since`/`until`); 400 otherwise. */
export function isoParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (!v) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new GatewayError('invalid_request', `\`${name}\` must be an ISO date.`);
  return t;
}

export function stringArray(v: unknown, name: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) {
    throw new GatewayError('invalid_request', `\`${name}\` must be an array of non-empty strings.`);
  }
  return v as string[];
}

/** A JSON answer of the admin API: never cached (it may carry recorded content or secrets' metadata). */
export function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
