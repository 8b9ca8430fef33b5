// `node bench/tail.ts`: where the fixed-rate tail comes from. Starts the mock and one Portcullis gateway (recording
// on, no policy) with V8's GC trace and an event-loop delay monitor, sends BENCH_RATE requests/s for
// BENCH_RATE_SECONDS (started on schedule whatever is in flight, like bench/run.ts), then prints the latency
// percentiles, the GC pauses, how the slowest requests cluster, and the gateway's event-loop delay.
// BENCH_GATEWAY_NODE_ARGS: extra node flags for the gateway (e.g. "--single-threaded-gc"), to A/B them.
import { Pool } from 'undici';
import { startChild } from './proc/start.ts';

const RATE = Number(process.env.BENCH_RATE ?? 300);
const SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 6);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const mock = await startChild('bench/proc/mock.ts');
const gw = await startChild('bench/proc/gateway.ts', { UPSTREAM: mock.fields[0]!, BENCH_LOOP_DELAY: '1' }, ['--trace-gc', ...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [])]);
// --trace-gc lines: "[pid:addr:0]   1234 ms: Scavenge 12.3 (14.0) -> 11.1 (15.0) MB, pooled: 0 MB, 0.52 / 0.00 ms ..."
const gcs: { ms: number; kind: string }[] = [];
let measuring = false;
gw.proc.stdout!.on('data', (d: Buffer) => {
  for (const line of d.toString().split('\n')) {
    const m = / ms: (\S+)[^,]*, .*?([\d.]+) \/ [\d.]+ ms/.exec(line);
    if (m && measuring) gcs.push({ ms: Number(m[2]), kind: m[1]! });
  }
});
const pool = new Pool(gw.fields[0]!, { connections: 64 });
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Summarise the quarterly numbers for the team in two sentences.' }] });
const send = async () => {
  const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${gw.fields[1]}` }, body });
  await res.body.dump();
};
for (let i = 0; i < 500; i++) await send(); // warm-up
const lat: { at: number; ms: number }[] = [];
const start = performance.now();
measuring = true;
const inflight: Promise<void>[] = [];
for (let i = 0; i < RATE * SECONDS; i++) {
  const wait = start + (i * 1000) / RATE - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const s = performance.now();
  inflight.push(send().then(() => void lat.push({ at: s - start, ms: performance.now() - s })));
}
await Promise.all(inflight);
await pool.close();
const ms = lat.map((l) => l.ms);
console.log(`${lat.length} requests at ${RATE}/s: p50 ${pct(ms, 50).toFixed(3)} ms, p99 ${pct(ms, 99).toFixed(3)} ms, p99.9 ${pct(ms, 99.9).toFixed(3)} ms, max ${Math.max(...ms).toFixed(3)} ms`);
const pauses = gcs.map((g) => g.ms);
console.log(`GC in the gateway during the measured run: ${gcs.length} pauses, ${pauses.reduce((a, b) => a + b, 0).toFixed(1)} ms total, max ${Math.max(0, ...pauses).toFixed(2)} ms; kinds: ${[...new Set(gcs.map((g) => g.kind))].join(', ')}`);
const slow = [...lat].sort((a, b) => b.ms - a.ms).slice(0, Math.max(1, Math.round(lat.length / 100)));
const clustered = slow.filter((s) => slow.some((o) => o !== s && Math.abs(o.at - s.at) < 20)).length;
console.log(`slowest 1 %: ${slow.length} requests, ${clustered} of them within 20 ms of another slow one (stalls hit every request in flight)`);
measuring = false;
await new Promise<void>((r) => {
  gw.proc.once('exit', () => r());
  gw.proc.kill();
});
mock.proc.kill();
