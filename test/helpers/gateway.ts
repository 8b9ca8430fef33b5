import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/loader.ts';
import { createLogger } from '../../src/core/logger.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { startGateway, type GatewayHandle, type GatewayOptions } from '../../src/main.ts';
import { startMockUpstream, type MockUpstream } from '../../src/mock/server.ts';

export interface TestGateway {
  gw: GatewayHandle;
  mock: MockUpstream;
  dir: string;
  adminKey: string;
  /** A user key (groups: eng). */
  userKey: string;
  openaiBase: string;
  anthropicBase: string;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Extra YAML appended to the generated config (top-level keys). */
  extraYaml?: string;
  mockChunks?: number;
  mockDelayMs?: number;
  /** Replace the routes section. */
  routesYaml?: string;
  observers?: GatewayOptions['observers'];
  /** Store URL (default: a temp SQLite file). */
  storeUrl?: string;
  /** Extra keys of the `server` section, e.g. `{ shutdown_grace_ms: 300 }`. */
  server?: Record<string, unknown>;
  /** Extra keys of the `store` section, e.g. `{ lease: { ttl_ms: 1000, heartbeat_interval_ms: 200 } }`. */
  store?: Record<string, unknown>;
  /** Master key (base64); replicas sharing a store must share it. */
  masterKey?: string;
  onIdentityEvent?: GatewayOptions['onIdentityEvent'];
  /** `host:port` to listen on (default an ephemeral port), e.g. when an IdP must know the callback URL first. */
  listen?: string;
  /** `server.max_body_bytes` (default 64 KiB; coding agents send larger requests). */
  maxBodyBytes?: number;
  /** The gateway's time source (default the system clock), e.g. a replica whose clock runs ahead. */
  clock?: GatewayOptions['clock'];
}

/**
 * A real gateway on 127.0.0.1:0 in front of the real mock upstream on 127.0.0.1:0, with a temp SQLite store.
 * Provider `openai` is OpenAI-compatible, `anthropic` is Anthropic, both pointed at the mock with a provider key
 * the tests can look for.
 */
export const PROVIDER_KEY_OPENAI = 'sk-provider-openai-' + 'x'.repeat(24);
export const PROVIDER_KEY_ANTHROPIC = 'sk-ant-provider-' + 'y'.repeat(24);

/** The routes every test gateway has unless `routesYaml` replaces them (append to extend them). */
export const DEFAULT_ROUTES_YAML = `routes:
  - model: "gpt-*"
    provider: openai
  - model: text-embedding-3-small
    provider: openai
  - model: renamed-model
    provider: openai
    upstream_model: gpt-4o-upstream
  - model: "claude-*"
    provider: anthropic`;

export async function startTestGateway(o: TestGatewayOptions = {}): Promise<TestGateway> {
  const mock = await startMockUpstream({ host: '127.0.0.1', port: 0, chunks: o.mockChunks ?? 4, chunkDelayMs: o.mockDelayMs ?? 0 });
  const dir = mkdtempSync(join(tmpdir(), 'pcl-e2e-'));
  const env = { ...process.env, PCL_TEST_MASTER: o.masterKey ?? randomBytes(32).toString('base64'), OPENAI_KEY: PROVIDER_KEY_OPENAI, ANTHROPIC_KEY: PROVIDER_KEY_ANTHROPIC };
  const yaml = `
server:
  listen: 127.0.0.1:0
  max_body_bytes: ${o.maxBodyBytes ?? 65536}
  request_body_timeout_ms: 2000
${Object.entries(o.server ?? {}).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}
store:
  url: ${o.storeUrl ?? `sqlite:${join(dir, 'portcullis.db')}`}
${Object.entries(o.store ?? {}).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}
master_key: env:PCL_TEST_MASTER
logging:
  level: silent
recording:
  flush_interval_ms: 20
providers:
  - name: openai
    type: openai
    base_url: ${mock.url}/v1
    api_key: env:OPENAI_KEY
  - name: anthropic
    type: anthropic
    base_url: ${mock.url}
    api_key: env:ANTHROPIC_KEY
${o.routesYaml ?? DEFAULT_ROUTES_YAML}
${o.extraYaml ?? ''}`;
  const config = parseConfig(yaml, 'test.yaml');
  const gw = await startGateway({ config, baseDir: dir, env, logger: createLogger('silent'), observers: o.observers, onIdentityEvent: o.onIdentityEvent, ...(o.listen ? { listen: o.listen } : {}), ...(o.clock ? { clock: o.clock } : {}) });
  const { secret: userKey } = await createApiKey(gw.store.apiKeys, { name: 'alice', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now());
  return {
    gw, mock, dir, adminKey: gw.bootstrapAdminKey ?? '', userKey,
    openaiBase: `${gw.url}/v1`, anthropicBase: gw.url,
    async close() {
      await gw.close();
      await mock.close();
    },
  };
}

/** Polls until `check` returns a value (records are finished asynchronously after the response). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 15));
  }
}

export async function finishedExchange(gw: GatewayHandle, id: string) {
  return eventually(async () => {
    const row = await gw.store.exchanges.get(id);
    return row && row.status !== 'in_progress' ? row : undefined;
  });
}
