import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadCredentials, type StoredCredentials } from '../identity/client/credentials.ts';
import { freshCredentials } from '../identity/client/gateway-client.ts';
import { UsageError, type CliIo } from './io.ts';

export interface AdminTarget {
  gateway: string;
  token: string;
  /** Where the credential came from; `login` carries the stored (refreshed) login, e.g. for its expiry. */
  source: { kind: 'key-file' | 'env' } | { kind: 'login'; login: StoredCredentials };
}

/** The options every gateway command takes for it (parseArgs spelling). */
export const TARGET_FLAGS = { gateway: { type: 'string' }, 'key-file': { type: 'string' } } as const;

/**
 * Where and as whom every command that talks to a gateway (policy, approvals, usage, whoami, env, exec) acts, the
 * same way for all of them:
 * gateway: `--gateway`, else PORTCULLIS_GATEWAY, else the one `portcullis login` stored;
 * credential: `--key-file` (a file holding a key), else PORTCULLIS_TOKEN, else the stored login token
 * (refreshed when it is about to expire). Never a secret on the command line. PORTCULLIS_URL and
 * PORTCULLIS_API_KEY are accepted as older spellings.
 */
export async function adminTarget(io: CliIo, flags: { gateway?: string | undefined; keyFile?: string | undefined }): Promise<AdminTarget> {
  const gateway = flags.gateway ?? (io.env.PORTCULLIS_GATEWAY || io.env.PORTCULLIS_URL || undefined);
  const token = flags.keyFile ? await readKeyFile(io, flags.keyFile) : (io.env.PORTCULLIS_TOKEN || io.env.PORTCULLIS_API_KEY || undefined);
  const source = flags.keyFile ? { kind: 'key-file' as const } : { kind: 'env' as const };
  if (gateway && token) return { gateway: trim(gateway), token, source };
  const stored = await loadCredentials(io.env);
  if (!stored) {
    throw new UsageError(token ? 'give --gateway URL or PORTCULLIS_GATEWAY' : 'not signed in: run `portcullis login`, or set PORTCULLIS_TOKEN (or --key-file) and PORTCULLIS_GATEWAY');
  }
  if (!token && gateway && new URL(gateway).origin !== new URL(stored.gateway).origin) {
    // The stored login token belongs to the gateway that issued it; never hand it to another host.
    throw new UsageError(`you are signed in to ${new URL(stored.gateway).origin}, not ${new URL(gateway).origin}: run \`portcullis login --gateway ${trim(gateway)}\` or give a token for it`);
  }
  if (token) return { gateway: trim(stored.gateway), token, source };
  const fresh = await freshCredentials(io.env, stored);
  return { gateway: trim(gateway ?? fresh.gateway), token: fresh.access_token, source: { kind: 'login', login: fresh } };
}

async function readKeyFile(io: CliIo, file: string): Promise<string> {
  try {
    return (await readFile(resolve(io.cwd, file), 'utf8')).trim();
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
}

const trim = (url: string): string => url.replace(/\/+$/, '');

/** One admin API call as the target's caller: status and JSON answer ({} when the answer is not JSON). */
export async function adminCall(s: AdminTarget, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${s.gateway}${path}`, {
    method, headers: { authorization: `Bearer ${s.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000),
  });
  let json: Record<string, unknown> = {};
  try {
    json = (await r.json()) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: r.status, json };
}

/** The gateway's error message of a refused admin call, else its HTTP status (printed through io.ts by callers). */
export function adminErrorText(r: { status: number; json: Record<string, unknown> }): string {
  const e = r.json.error as { message?: unknown } | undefined;
  return typeof e?.message === 'string' ? e.message : `HTTP ${r.status}`;
}
