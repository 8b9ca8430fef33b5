import { Pool } from 'undici';
import type { ProviderConfig } from '../config/schema.ts';
import type { Endpoint } from './endpoints.ts';

/**
 * A configured upstream at run time: where to send an endpoint's request and how to authenticate. The provider
 * key lives only here (in memory) and in the store sealed; it is injected per request and never logged.
 */
export interface UpstreamTarget {
  pool: Pool;
  origin: string;
  path: string;
  authHeaders: Record<string, string>;
}

export interface ProviderTimeouts {
  connectMs: number;
  firstByteMs: number;
  idleMs: number;
}

export class ProviderRuntime {
  readonly name: string;
  readonly type: ProviderConfig['type'];
  readonly timeouts: ProviderTimeouts;
  readonly #pool: Pool;
  readonly #origin: string;
  /** Base path of the API root, e.g. `/v1` for OpenAI, `` for Anthropic, `/openai` for Azure. */
  readonly #basePath: string;
  readonly #apiVersion: string | undefined;
  #apiKey: string | undefined;

  constructor(opts: { config: ProviderConfig; baseUrl: string; apiKey: string | undefined; timeouts: ProviderTimeouts; connections: number }) {
    const url = new URL(opts.baseUrl);
    this.name = opts.config.name;
    this.type = opts.config.type;
    this.timeouts = opts.timeouts;
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#apiVersion = opts.config.api_version;
    this.#apiKey = opts.apiKey;
    this.#pool = new Pool(url.origin, {
      connections: opts.connections,
      connect: { timeout: opts.timeouts.connectMs },
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
  }

  /** Rotation: the next request uses the new key; no client changes. */
  setApiKey(key: string | undefined): void {
    this.#apiKey = key;
  }

  target(endpoint: Endpoint, upstreamModel: string | undefined): UpstreamTarget {
    return { pool: this.#pool, origin: this.#origin, path: this.#path(endpoint, upstreamModel), authHeaders: this.#auth() };
  }

  #path(endpoint: Endpoint, upstreamModel: string | undefined): string {
    if (this.type === 'mock') return endpoint.family === 'openai' ? `/v1${endpoint.upstreamPath}` : endpoint.upstreamPath;
    if (this.type === 'azure-openai' && this.#apiVersion && upstreamModel) {
      // Azure's classic data plane: /openai/deployments/{deployment}/chat/completions?api-version=…
      return `${this.#basePath}/deployments/${encodeURIComponent(upstreamModel)}${endpoint.upstreamPath}?api-version=${encodeURIComponent(this.#apiVersion)}`;
    }
    if (this.type === 'anthropic') return `${this.#basePath}${endpoint.upstreamPath}`;
    return `${this.#basePath}${endpoint.upstreamPath}`;
  }

  #auth(): Record<string, string> {
    const key = this.#apiKey;
    if (this.type === 'mock') return { authorization: 'Bearer mock-upstream-key' };
    if (key === undefined) return {};
    if (this.type === 'anthropic') return { 'x-api-key': key };
    if (this.type === 'azure-openai') return { 'api-key': key };
    return { authorization: `Bearer ${key}` };
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
