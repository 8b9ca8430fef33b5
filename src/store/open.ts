import { resolve } from 'node:path';
import type { Store } from './ports.ts';
import { SqliteStore } from './sqlite/index.ts';

/** Opens the store named by `store.url`: `sqlite:PATH` (relative to baseDir) or `postgres://…`. */
export async function openStore(url: string, opts: { baseDir: string; synchronous?: 'normal' | 'full' }): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const raw = url.slice('sqlite:'.length);
    const path = raw === ':memory:' ? raw : resolve(opts.baseDir, raw);
    return SqliteStore.open({ path, synchronous: opts.synchronous ?? 'normal' });
  }
  throw new Error(`store engine for ${url.split(':')[0]} is not available in this build (sqlite: is)`);
}
