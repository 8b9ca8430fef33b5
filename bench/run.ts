// `npm run bench`: direct vs bare Node proxy vs Portcullis (recording on), one run, loopback, mock upstream.
// Prints requests/s, proxy CPU per request, p50/p99 added latency at a fixed rate, and added SSE first-byte time.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { Pool } from 'undici';

const ROOT = new URL('..', import.meta.url).pathname;
const N = Number(process.env.BENCH_REQUESTS ?? 6000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const RATE = Number(process.env.BENCH_RATE ?? 300);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 5);
const SSE_SAMPLES = Number(process.env.BENCH_SSE_SAMPLES ?? 300);

interface Target { name: string; url: string; proc: ChildProcess; auth: string }

function start(script: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; fields: string[] }> {
  const proc = spawn(process.execPath, [script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('READY '));
      if (line) resolve({ proc, fields: line.slice(6).trim().split(' ') });
    });
    proc.once('exit', (c) => reject(new Error(`${script} exited ${c}`)));
  });
}

/** CPU seconds (user+sys, all threads) of a process, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const chatBody = (stream: boolean) =>
  JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Summarise the quarterly numbers for the team in two sentences.' }] });

async function request(pool: Pool, t: Target, body: string): Promise<void> {
  const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', authorization: t.auth }, body });
  if (res.statusCode !== 200) throw new Error(`${t.name}: HTTP ${res.statusCode} ${await res.body.text()}`);
  await res.body.dump();
}

async function throughput(t: Target): Promise<{ rps: number; cpuUsPerReq: number }> {
  const pool = new Pool(t.url, { connections: CONCURRENCY });
  const body = chatBody(false);
  for (let i = 0; i < 200; i++) await request(pool, t, body); // warm-up (JIT, connections)
  const cpu0 = cpuSeconds(t.proc.pid!);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < N) await request(pool, t, body);
  }));
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(t.proc.pid!) - cpu0;
  await pool.close();
  return { rps: N / secs, cpuUsPerReq: (cpu / N) * 1e6 };
}

async function fixedRate(t: Target): Promise<number[]> {
  const pool = new Pool(t.url, { connections: 64 });
  const body = chatBody(false);
  const lat: number[] = [];
  const total = RATE * RATE_SECONDS;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const s = performance.now();
    inflight.push(request(pool, t, body).then(() => void lat.push(performance.now() - s)));
  }
  await Promise.all(inflight);
  await pool.close();
  return lat.sort((a, b) => a - b);
}

async function sseFirstByte(t: Target): Promise<number[]> {
  const pool = new Pool(t.url, { connections: 1 });
  const body = chatBody(true);
  const out: number[] = [];
  for (let i = 0; i < SSE_SAMPLES + 20; i++) {
    const s = performance.now();
    const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', authorization: t.auth }, body });
    let first = 0;
    for await (const _c of res.body) {
      if (!first) first = performance.now() - s;
    }
    if (i >= 20) out.push(first);
  }
  await pool.close();
  return out.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const f = (n: number, d = 3) => n.toFixed(d);

const mock = await start('bench/proc/mock.ts');
const upstream = mock.fields[0]!;
const bare = await start('bench/proc/bare-proxy.ts', { UPSTREAM: upstream });
const gw = await start('bench/proc/gateway.ts', { UPSTREAM: upstream });
const targets: Target[] = [
  { name: 'direct', url: upstream, proc: mock.proc, auth: 'Bearer direct' },
  { name: 'bare-proxy', url: bare.fields[0]!, proc: bare.proc, auth: 'Bearer x' },
  { name: 'portcullis', url: gw.fields[0]!, proc: gw.proc, auth: `Bearer ${gw.fields[1]}` },
];
try {
  console.log(`# Portcullis benchmark — node ${process.version}, ${N} requests × concurrency ${CONCURRENCY}; fixed rate ${RATE}/s for ${RATE_SECONDS}s; ${SSE_SAMPLES} SSE samples`);
  const tp: Record<string, { rps: number; cpuUsPerReq: number }> = {};
  for (const t of targets) tp[t.name] = await throughput(t);
  const lat: Record<string, number[]> = {};
  for (const t of targets) lat[t.name] = await fixedRate(t);
  const sse: Record<string, number[]> = {};
  for (const t of targets) sse[t.name] = await sseFirstByte(t);
  console.log('\n| target | req/s | CPU µs/req (this process) | p50 ms @rate | p99 ms @rate | SSE first byte p50 ms |');
  console.log('|---|---|---|---|---|---|');
  for (const t of targets) {
    console.log(`| ${t.name} | ${f(tp[t.name]!.rps, 0)} | ${f(tp[t.name]!.cpuUsPerReq, 1)} | ${f(pct(lat[t.name]!, 50))} | ${f(pct(lat[t.name]!, 99))} | ${f(pct(sse[t.name]!, 50))} |`);
  }
  const d = 'direct', b = 'bare-proxy', p = 'portcullis';
  console.log('\nsummary:');
  console.log(`  CPU per request, portcullis / bare proxy: ${f(tp[p]!.cpuUsPerReq / tp[b]!.cpuUsPerReq, 2)}x  (goal ≤ 1.5x)`);
  console.log(`  added latency p50 vs direct: bare ${f(pct(lat[b]!, 50) - pct(lat[d]!, 50))} ms, portcullis ${f(pct(lat[p]!, 50) - pct(lat[d]!, 50))} ms`);
  console.log(`  added latency p99 vs direct: bare ${f(pct(lat[b]!, 99) - pct(lat[d]!, 99))} ms, portcullis ${f(pct(lat[p]!, 99) - pct(lat[d]!, 99))} ms`);
  console.log(`  added SSE first byte p50 vs direct: bare ${f(pct(sse[b]!, 50) - pct(sse[d]!, 50))} ms, portcullis ${f(pct(sse[p]!, 50) - pct(sse[d]!, 50))} ms  (goal < 1 ms)`);
} finally {
  for (const t of [mock, bare, gw]) t.proc.kill();
}
for (const extra of ['bench/policy.ts', 'bench/detect.ts']) {
  if (existsSync(`${ROOT}${extra}`)) {
    console.log(`\n# ${extra}`);
    await new Promise<void>((r) => spawn(process.execPath, [extra], { cwd: ROOT, stdio: 'inherit' }).once('exit', () => r()));
  }
}
