// Benchmark child: Portcullis with recording on (SQLite store in a temp dir, bodies recorded and encrypted).
// BENCH_POLICY_RULES=n: a governed policy of n rules (bench/policy-source.ts, with content and budgets sections)
// is pushed and activated through the admin API with the bootstrap admin key before READY.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseConfig } from '../../src/config/loader.ts';
import { createLogger } from '../../src/core/logger.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { startGateway } from '../../src/main.ts';
import { policySource } from '../policy-source.ts';

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
if (process.env.BENCH_POLICY_RULES) {
  const admin = async (path: string, body: unknown): Promise<{ id: string }> => {
    const res = await fetch(`${gw.url}${path}`, {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${gw.bootstrapAdminKey}` },
    });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { id: string };
  };
  const source = policySource(Number(process.env.BENCH_POLICY_RULES), { governed: true });
  const { id } = await admin('/admin/v1/policies', { source, message: 'bench policy' });
  await admin(`/admin/v1/policies/${id}/activate`, {});
}
// BENCH_LOOP_DELAY=1: the main thread's event-loop delay (perf_hooks, 1 ms resolution) is printed to stderr on
// exit — a stall there delays every request in flight (bench/tail.ts).
const loopDelay = process.env.BENCH_LOOP_DELAY ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
loopDelay?.enable();
// BENCH_MEMORY=1: where the memory was at the highest RSS sampled (every 500 ms), printed to stderr on exit: the
// V8 heap, memory outside it (Buffers, ArrayBuffers) and the rest (native: sockets' and parsers' state, code, stacks).
let peakMemory: NodeJS.MemoryUsage | undefined;
const memorySampler = process.env.BENCH_MEMORY ? setInterval(() => {
  const m = process.memoryUsage();
  if (!peakMemory || m.rss > peakMemory.rss) peakMemory = m;
}, 500) : undefined;
memorySampler?.unref();
// Third field: the bootstrap admin key, for benchmarks that check the recorded exchanges and the chain afterwards.
process.stdout.write(`READY ${gw.url} ${secret} ${gw.bootstrapAdminKey}\n`);
process.on('SIGTERM', () => {
  if (loopDelay) {
    const ms = (ns: number) => (ns / 1e6).toFixed(2);
    process.stderr.write(`event-loop delay: p50 ${ms(loopDelay.percentile(50))} ms, p99 ${ms(loopDelay.percentile(99))} ms, p99.9 ${ms(loopDelay.percentile(99.9))} ms, max ${ms(loopDelay.max)} ms\n`);
  }
  if (peakMemory) {
    const mib = (b: number) => (b / 1048576).toFixed(0);
    const m = peakMemory;
    process.stderr.write(`memory at the highest RSS sampled: rss ${mib(m.rss)} MiB = V8 heap ${mib(m.heapTotal)} MiB (${mib(m.heapUsed)} used) + external ${mib(m.external)} MiB (array buffers ${mib(m.arrayBuffers)}) + other ${mib(m.rss - m.heapTotal - m.external)} MiB\n`);
  }
  rmSync(dir, { recursive: true, force: true }); // the store with its recorded exchanges
  process.exit(0);
});
