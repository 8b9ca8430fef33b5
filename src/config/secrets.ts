import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

/**
 * Secret references in config values: `env:NAME`, `file:PATH` (relative to the config file), or `${NAME}`
 * interpolation anywhere in a string. Resolution happens once at load; the resolved value never goes back into
 * anything printable (config dumps show the reference, not the value).
 */
export class SecretRefError extends Error {
  override readonly name = 'SecretRefError';
}

const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export async function resolveSecretRef(value: string, opts: { baseDir: string; env: NodeJS.ProcessEnv }): Promise<string> {
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    const v = opts.env[name];
    if (v === undefined || v === '') throw new SecretRefError(`environment variable ${name} is not set`);
    return v;
  }
  if (value.startsWith('file:')) {
    const path = resolve(opts.baseDir, value.slice(5));
    try {
      return (await readFile(path, 'utf8')).trim();
    } catch {
      throw new SecretRefError(`cannot read secret file ${path}`);
    }
  }
  return interpolateEnv(value, opts.env);
}

export function interpolateEnv(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(INTERPOLATION, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new SecretRefError(`environment variable ${name} is not set`);
    return v;
  });
}
