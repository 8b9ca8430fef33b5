import OpenAI from 'openai';
import pg from 'pg';

/** Small clients for the fleet suites: the admin API, the OpenAI SDK, the shared database. */
export async function adminApi(url: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

/** Mints a user key (groups: eng) through one replica's admin API. */
export async function mintUserKey(url: string, adminKey: string, name: string): Promise<{ id: string; key: string }> {
  const r = await adminApi(url, adminKey, 'POST', '/admin/v1/keys', { name, groups: ['eng'] });
  if (r.status !== 201) throw new Error(`minting a key: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return { id: String(r.json.id), key: String(r.json.key) };
}

export function sdk(baseUrl: string, key: string, maxRetries = 0): OpenAI {
  return new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: key, maxRetries, timeout: 120_000 });
}

/** One non-streamed chat call; resolves to the HTTP status and error code (no throw). */
export async function chat(baseUrl: string, key: string, model = 'gpt-4o'): Promise<{ status: number; code: string | null; body: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello fleet' }] }),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  const err = body.error as { code?: string } | undefined;
  return { status: res.status, code: err?.code ?? null, body };
}

/** A stream that has delivered its first chunk (recorded and flowing); `rest` reads it to the end. */
export async function openStream(baseUrl: string, key: string, text: string): Promise<{ id: string; rest(): Promise<string> }> {
  const { data, response } = await sdk(baseUrl, key).chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: text }] }).withResponse();
  const it = data[Symbol.asyncIterator]();
  await it.next();
  return {
    id: response.headers.get('x-portcullis-exchange-id') ?? '',
    async rest() {
      let out = '';
      for (let r = await it.next(); !r.done; r = await it.next()) out += r.value.choices[0]?.delta?.content ?? '';
      return out;
    },
  };
}

/** Runs `fn` with a client of the shared database (direct, not through the test's TCP proxy). */
export async function withDb<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Polls `check` until it returns a value, for at most `ms`; the error names what was last seen. For propagation
 * across processes (a lease expiring, a cache entry ageing out), never as a timing assertion.
 */
export async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>, seen: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last seen: ${seen()}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}
