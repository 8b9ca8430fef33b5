import type { IncomingMessage, ServerResponse } from 'node:http';
import { consolePage } from '../../console/url.ts';
import { GatewayError, isGatewayError } from '../../core/errors.ts';
import { utf8Text } from '../../core/text.ts';
import { readBody } from '../../http/body.ts';

const MAX_BODY = 64 * 1024;
const BODY_TIMEOUT_MS = 30_000;

/** Reads an `application/x-www-form-urlencoded` (RFC 6749 §4.1.3) or JSON body into string fields. */
export async function readParams(req: IncomingMessage): Promise<Record<string, string>> {
  const text = utf8Text(await readBody(req, { limit: MAX_BODY, timeoutMs: BODY_TIMEOUT_MS }));
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const out: Record<string, string> = {};
  if (type === 'application/json') {
    let v: unknown;
    try {
      v = text ? JSON.parse(text) : {};
    } catch {
      throw new GatewayError('invalid_json', 'Request body must be JSON.');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new GatewayError('invalid_request', 'Request body must be a JSON object.');
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
    return out;
  }
  // RFC 6749 §3.2: parameters sent more than once are an error (parameter pollution).
  const params = new URLSearchParams(text);
  for (const k of new Set(params.keys())) {
    if (params.getAll(k).length > 1) throw oauthError('invalid_request', `parameter ${k} repeated`);
    out[k] = params.get(k)!;
  }
  return out;
}

export function query(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
}

/** Token responses must not be cached (RFC 6749 §5.1). */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', pragma: 'no-cache', ...headers });
  res.end(body);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}

export function sendHtml(res: ServerResponse, status: number, title: string, text: string): void {
  const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const body = `<!doctype html><meta charset="utf-8"><title>${esc(title)}</title><body style="font-family:sans-serif;margin:3em"><h1>${esc(title)}</h1><p>${esc(text)}</p></body>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'", 'x-frame-options': 'DENY' });
  res.end(body);
}

/** An OAuth error (RFC 6749 §5.2) as a GatewayError; `sendOAuthError` renders it. */
export function oauthError(error: string, description: string, status = 400, reason?: string): GatewayError {
  return new GatewayError(status === 401 ? 'unauthenticated' : status === 429 ? 'rate_limited' : 'invalid_request', description, {
    status, details: { oauth_error: error, reason: reason ?? error },
  });
}

/** Renders any error as `{error, error_description}`; internal errors never expose their message. */
export function sendOAuthError(res: ServerResponse, err: unknown): void {
  const g = isGatewayError(err) ? err : new GatewayError('internal', 'internal error', { cause: err });
  const code = typeof g.details?.oauth_error === 'string' ? g.details.oauth_error : g.code === 'unauthenticated' ? 'invalid_grant' : g.status >= 500 ? 'server_error' : g.code === 'rate_limited' ? 'slow_down' : 'invalid_request';
  sendJson(res, g.status, { error: code, error_description: g.publicMessage }, g.headers);
}

/**
 * Where a login may hand its one-time code: a loopback listener of the CLI (RFC 8252 §7.3: http on
 * 127.0.0.1/[::1]/localhost, any port), or — given the gateway's public URL — exactly its own web console page
 * `<public_url>/console/` (docs/console.md), which redeems the code itself. Either way the code is bound to the
 * caller's PKCE challenge, so whoever catches it cannot redeem it.
 */
export function checkCliRedirect(raw: string | null, publicUrl?: string): URL {
  const refuse = (): never => {
    throw oauthError('invalid_request', 'cli_redirect must be a loopback URL such as http://127.0.0.1:PORT/callback, or this gateway\'s /console/ page.');
  };
  let u: URL;
  try {
    u = new URL(raw ?? '');
  } catch {
    return refuse();
  }
  if (u.username || u.password || u.hash) return refuse();
  if (publicUrl !== undefined && !u.search && `${u.origin}${u.pathname}` === consolePage(publicUrl)) return u;
  if (u.protocol !== 'http:' || !['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)) return refuse();
  return u;
}
