import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfigFile, type LoadedConfig } from '../config/loader.ts';
import { loadOrCreateMasterKey } from '../crypto/master-key.ts';
import { Keyring } from '../crypto/keyring.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/ports.ts';
import { UsageError, type CliIo } from './io.ts';

/** Strict option parsing: unknown flags are usage errors, not silently ignored. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...options, config: { type: 'string', short: 'c' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export interface StoreSession {
  loaded: LoadedConfig;
  store: Store;
  keyring: Keyring;
  close(): Promise<void>;
}

/**
 * Opens the configured store directly (embedded SQLite may be shared with a running gateway thanks to WAL).
 * `--config FILE` or PORTCULLIS_CONFIG; without either, the embedded default.
 */
export async function openStoreSession(configFile: string | undefined, io: CliIo): Promise<StoreSession> {
  const loaded = await loadConfigFile(configFile ?? (io.env.PORTCULLIS_CONFIG || undefined), io.cwd);
  const master = await loadOrCreateMasterKey(loaded.config.master_key, { baseDir: loaded.baseDir, env: io.env });
  const store = await openStore(loaded.config.store.url, { baseDir: loaded.baseDir, synchronous: loaded.config.store.sqlite?.synchronous });
  return { loaded, store, keyring: new Keyring(master.key), close: () => store.close() };
}
