import type { Config, ProviderConfig } from './config/schema.ts';
import { resolveSecretRef } from './config/secrets.ts';
import type { GatewayLogger } from './core/logger.ts';
import type { Keyring } from './crypto/keyring.ts';
import { startMockUpstream, type MockUpstream } from './mock/server.ts';
import { ProviderRuntime } from './proxy/providers.ts';
import type { Store } from './store/ports.ts';

export interface StartedProviders {
  runtimes: Map<string, ProviderRuntime>;
  close(): Promise<void>;
}

/**
 * Builds a runtime per configured provider. Keys come from a secret reference (env:/file:/${}) or, with
 * `api_key: store`, from the sealed credential set through the CLI/admin API. A `mock` provider starts the
 * built-in mock upstream on a loopback port, so the quick start needs no provider account.
 */
export async function startProviders(o: { config: Config; env: NodeJS.ProcessEnv; baseDir: string; store: Store; keyring: Keyring; logger: GatewayLogger }): Promise<StartedProviders> {
  const runtimes = new Map<string, ProviderRuntime>();
  const mocks: MockUpstream[] = [];
  try {
    for (const p of o.config.providers) {
      let baseUrl = p.base_url;
      if (p.type === 'mock' && !baseUrl) {
        const mock = await startMockUpstream({ host: '127.0.0.1', port: 0, chunks: p.mock?.chunks ?? 8, chunkDelayMs: p.mock?.chunk_delay_ms ?? 0 });
        mocks.push(mock);
        baseUrl = mock.url;
      }
      runtimes.set(p.name, new ProviderRuntime({
        config: p,
        baseUrl: baseUrl!,
        apiKey: await providerKey(p, o),
        connections: o.config.upstream.connections,
        timeouts: {
          connectMs: p.timeouts?.connect_ms ?? o.config.upstream.connect_timeout_ms,
          firstByteMs: p.timeouts?.first_byte_ms ?? o.config.upstream.first_byte_timeout_ms,
          idleMs: p.timeouts?.idle_ms ?? o.config.upstream.idle_timeout_ms,
        },
      }));
    }
  } catch (err) {
    await Promise.allSettled([...mocks.map((m) => m.close()), ...[...runtimes.values()].map((r) => r.close())]);
    throw err;
  }
  return {
    runtimes,
    async close() {
      await Promise.allSettled([...runtimes.values()].map((r) => r.close()));
      await Promise.allSettled(mocks.map((m) => m.close()));
    },
  };
}

async function providerKey(p: ProviderConfig, o: { env: NodeJS.ProcessEnv; baseDir: string; store: Store; keyring: Keyring; logger: GatewayLogger }): Promise<string | undefined> {
  if (!p.api_key || p.type === 'mock') return undefined;
  if (p.api_key === 'store') {
    const stored = await o.store.credentials.get(p.name);
    if (!stored) {
      o.logger.warn({ event: 'provider_credential_missing', provider: p.name }, 'no stored credential yet; set one with `portcullis credentials set`');
      return undefined;
    }
    return o.keyring.open('provider-credentials', stored.sealed, `provider/${p.name}`).toString('utf8');
  }
  try {
    return await resolveSecretRef(p.api_key, { baseDir: o.baseDir, env: o.env });
  } catch (err) {
    throw new Error(`providers.${p.name}.api_key: ${(err as Error).message}`);
  }
}
