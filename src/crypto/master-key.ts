import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { resolveSecretRef } from '../config/secrets.ts';

/**
 * The master key: 32 random bytes, base64 in a file (mode 0600) or an env var. Every at-rest key is derived
 * from it with HKDF (see keyring.ts). When the configured file does not exist it is generated once and the
 * operator is warned: losing it makes recorded bodies and stored provider keys unreadable.
 */
export interface MasterKeyResult {
  key: Buffer;
  generatedAt?: string;
}

export async function loadOrCreateMasterKey(ref: string, opts: { baseDir: string; env: NodeJS.ProcessEnv }): Promise<MasterKeyResult> {
  if (ref.startsWith('file:')) {
    const path = resolve(opts.baseDir, ref.slice(5));
    const existing = await readIfExists(path);
    if (existing !== undefined) return { key: decodeKey(existing, path) };
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    // 'wx': fail if another process created it in between; 0600: only the owner may read it.
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(key.toString('base64') + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    return { key, generatedAt: path };
  }
  const value = await resolveSecretRef(ref, opts);
  return { key: decodeKey(value, 'master_key') };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path);
    if (exposed(st)) {
      throw new Error(`master key file ${path} is readable by others or writable by group/others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it (0440 if root-owned)`);
    }
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * PostgreSQL's rule for its server key file: private to its owner (0600 or less), or, when owned by root, readable
 * by one group (0640 or less) — which is how Kubernetes mounts a secret for a non-root pod (root:fsGroup, 0440).
 * Never readable by others, never writable by group or others.
 */
function exposed(st: { mode: number; uid: number }): boolean {
  const mode = st.mode & 0o777;
  if ((mode & 0o077) === 0) return false;
  return !(st.uid === 0 && (mode & 0o037) === 0);
}

function decodeKey(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new Error(`master key in ${where} must be 32 bytes, base64-encoded`);
  return key;
}
