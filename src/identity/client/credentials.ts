import { chmod, mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What `portcullis login` stores for the CLI and `exec`: never printed, file mode 0600 in a 0700 directory. */
export interface StoredCredentials {
  gateway: string;
  access_token: string;
  refresh_token?: string | undefined;
  /** Epoch ms. */
  expires_at: number;
  subject: string;
  groups: string[];
}

export function credentialsPath(env: NodeJS.ProcessEnv): string {
  if (env.PORTCULLIS_CREDENTIALS) return env.PORTCULLIS_CREDENTIALS;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'portcullis', 'credentials.json');
}

export async function loadCredentials(env: NodeJS.ProcessEnv): Promise<StoredCredentials | undefined> {
  try {
    return JSON.parse(await readFile(credentialsPath(env), 'utf8')) as StoredCredentials;
  } catch {
    return undefined;
  }
}

/** Written to a 0600 temp file then renamed, so a crash never leaves a half-written or world-readable file. */
export async function saveCredentials(env: NodeJS.ProcessEnv, c: StoredCredentials): Promise<string> {
  const path = credentialsPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return path;
}

export async function deleteCredentials(env: NodeJS.ProcessEnv): Promise<void> {
  await rm(credentialsPath(env), { force: true });
}
