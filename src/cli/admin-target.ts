import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadCredentials } from '../identity/client/credentials.ts';
import { freshCredentials } from '../identity/client/gateway-client.ts';
import { UsageError, type CliIo } from './io.ts';

export interface AdminTarget {
  gateway: string;
  token: string;
}

/**
 * Where and as whom the admin-API commands (policy, approvals, usage) act, the same way for all of them:
 * gateway: `--gateway`, else PORTCULLIS_GATEWAY, else the one `portcullis login` stored;
 * credential: `--key-file` (a file holding a key), else PORTCULLIS_TOKEN, else the stored login token
 * (refreshed when it is about to expire). Never a secret on the command line. PORTCULLIS_URL and
 * PORTCULLIS_API_KEY are accepted as older spellings.
 */
export async function adminTarget(io: CliIo, flags: { gateway?: string | undefined; keyFile?: string | undefined }): Promise<AdminTarget> {
  const gateway = flags.gateway ?? (io.env.PORTCULLIS_GATEWAY || io.env.PORTCULLIS_URL || undefined);
  const token = flags.keyFile ? await readKeyFile(io, flags.keyFile) : (io.env.PORTCULLIS_TOKEN || io.env.PORTCULLIS_API_KEY || undefined);
  if (gateway && token) return { gateway: trim(gateway), token };
  const stored = await loadCredentials(io.env);
  if (!stored) {
    throw new UsageError(token ? 'give --gateway URL or PORTCULLIS_GATEWAY' : 'not signed in: run `portcullis login`, or set PORTCULLIS_TOKEN (or --key-file) and PORTCULLIS_GATEWAY');
  }
  if (!token && gateway && new URL(gateway).origin !== new URL(stored.gateway).origin) {
    // The stored login token belongs to the gateway that issued it; never hand it to another host.
    throw new UsageError(`you are signed in to ${new URL(stored.gateway).origin}, not ${new URL(gateway).origin}: run \`portcullis login --gateway ${trim(gateway)}\` or give a token for it`);
  }
  const fresh = token ? undefined : await freshCredentials(io.env, stored);
  return { gateway: trim(gateway ?? stored.gateway), token: token ?? fresh!.access_token };
}

async function readKeyFile(io: CliIo, file: string): Promise<string> {
  try {
    return (await readFile(resolve(io.cwd, file), 'utf8')).trim();
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
}

const trim = (url: string): string => url.replace(/\/+$/, '');
