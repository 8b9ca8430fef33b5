import { saveCredentials, type StoredCredentials } from './credentials.ts';

/** Talks to the gateway's /auth endpoints for the CLI. Token values are never logged. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
}

/** The OAuth `error` code of a failed call, or its HTTP status. */
export function errorOf(r: { status: number; body: Record<string, unknown> }): string {
  return typeof r.body.error === 'string' ? r.body.error : `HTTP ${r.status}`;
}

export async function postForm(url: string, params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams(params), signal: AbortSignal.timeout(30_000) });
  let body: Record<string, unknown> = {};
  try {
    body = (await r.json()) as Record<string, unknown>;
  } catch {
    /* non-JSON error page */
  }
  return { status: r.status, body };
}

export function toStored(gateway: string, body: Record<string, unknown>, previous?: StoredCredentials): StoredCredentials {
  if (typeof body.access_token !== 'string') throw new AuthError('the gateway returned no access token');
  return {
    gateway,
    access_token: body.access_token,
    refresh_token: typeof body.refresh_token === 'string' ? body.refresh_token : previous?.refresh_token,
    expires_at: Date.now() + Number(body.expires_in ?? 0) * 1000,
    subject: typeof body.subject === 'string' ? body.subject : (previous?.subject ?? ''),
    groups: Array.isArray(body.groups) ? (body.groups as string[]) : (previous?.groups ?? []),
  };
}

/** Refreshes when the access token has under a minute left; persists the rotated tokens. */
export async function freshCredentials(env: NodeJS.ProcessEnv, c: StoredCredentials): Promise<StoredCredentials> {
  if (c.expires_at - Date.now() > 60_000) return c;
  if (!c.refresh_token) throw new AuthError('your Portcullis token expired; run `portcullis login` again');
  const r = await postForm(`${c.gateway}/auth/token`, { grant_type: 'refresh_token', refresh_token: c.refresh_token });
  if (r.status !== 200) throw new AuthError(`could not refresh your token (${errorOf(r)}); run \`portcullis login\` again`);
  const next = toStored(c.gateway, r.body, c);
  await saveCredentials(env, next);
  return next;
}

/** The environment a governed tool needs (OpenAI and Anthropic SDKs read these). */
export function toolEnv(c: { gateway: string; token: string }): Record<string, string> {
  return {
    OPENAI_BASE_URL: `${c.gateway}/v1`,
    OPENAI_API_KEY: c.token,
    ANTHROPIC_BASE_URL: c.gateway,
    ANTHROPIC_API_KEY: c.token,
  };
}
