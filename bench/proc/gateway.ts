// Benchmark child: Portcullis with recording on (SQLite store in a temp dir, bodies recorded and encrypted).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/loader.ts';
import { createLogger } from '../../src/core/logger.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { startGateway } from '../../src/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcl-bench-'));
const extra = process.env.GATEWAY_EXTRA_YAML ?? '';
const config = parseConfig(
  `
server: { listen: 127.0.0.1:0 }
store: { url: "sqlite:${join(dir, 'bench.db')}" }
master_key: env:BENCH_MASTER
logging: { level: silent }
providers:
  - { name: up, type: openai-compatible, base_url: "${process.env.UPSTREAM}/v1", api_key: env:BENCH_UPSTREAM_KEY }
  - { name: upa, type: anthropic, base_url: "${process.env.UPSTREAM}", api_key: env:BENCH_UPSTREAM_KEY }
routes:
  - { model: "gpt-*", provider: up }
  - { model: "claude-*", provider: upa }
${extra}`,
  'bench.yaml',
);
const gw = await startGateway({
  config, baseDir: dir, logger: createLogger('silent'),
  env: { ...process.env, BENCH_MASTER: randomBytes(32).toString('base64'), BENCH_UPSTREAM_KEY: 'sk-bench-upstream' },
});
const { secret } = await createApiKey(gw.store.apiKeys, { name: 'bench', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'bench' }, Date.now());
writeFileSync(join(dir, 'key'), secret);
process.stdout.write(`READY ${gw.url} ${secret}\n`);
process.on('SIGTERM', () => process.exit(0));
// Experiment switch (not used by `npm run bench`): measure the gateway without its store writes.
if (process.env.BENCH_NO_STORE === '1') {
  const ex = gw.store.exchanges as unknown as Record<string, unknown>;
  for (const m of ['start', 'finish', 'appendSegment']) ex[m] = async () => {};
}
