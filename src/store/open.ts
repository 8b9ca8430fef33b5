import { resolve } from 'node:path';
import type { GatewayLogger } from '../core/logger.ts';
import type { PostgresPoolConfig } from './config-schema.ts';
import type { Store } from './ports.ts';
import { PostgresStore } from './postgres/index.ts';
import { SqliteStore } from './sqlite/index.ts';

/**
 * Opens the store named by `store.url`: `sqlite:PATH` (relative to baseDir) or `postgres://…`. `logger` hears of
 * PostgreSQL connections the server closed (they are replaced; without it they are dropped silently); `postgres`
 * bounds every wait on PostgreSQL (config `store.postgres`).
 */
export async function openStore(url: string, opts: { baseDir: string; synchronous?: 'normal' | 'full'; postgres?: PostgresPoolConfig; logger?: GatewayLogger }): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const raw = url.slice('sqlite:'.length);
    const path = raw === ':memory:' ? raw : resolve(opts.baseDir, raw);
    return SqliteStore.open({ path, synchronous: opts.synchronous ?? 'normal' });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return PostgresStore.open(url, { logger: opts.logger, pool: opts.postgres });
  throw new Error(`unsupported store url scheme ${url.split(':')[0]} (use sqlite: or postgres://)`);
}
