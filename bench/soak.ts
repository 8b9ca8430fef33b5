// `npm run soak` (not in CI): one Portcullis gateway (SQLite store, recording on, no policy) against the mock, held at
// half its measured maximum request rate for SOAK_MINUTES (default 30) with a mix of streamed and non-streamed chat
// requests. This process is the load generator; the gateway and the mock are child processes. Per minute: requests,
// errors, latency p50/p99 (to the end of the answer), the gateway's RSS and CPU. At the end: every answered request's
// exchange (x-portcullis-exchange-id) must be recorded `completed` (0 lost), the audit chain must verify (bodies too),
// and RSS and latency must be flat — see `flat()` for how that is judged. Exits 1 when a verdict fails.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Pool, request } from 'undici';
import { startChild } from './proc/start.ts';
import { processCpu } from './threads.ts';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const WARMUP_MINUTES = Number(process.env.SOAK_WARMUP_MINUTES ?? 2);
const STREAM_SHARE = Number(process.env.SOAK_STREAM_SHARE ?? 0.5);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 64);
const MAX_SECONDS = Number(process.env.SOAK_MAX_SECONDS ?? 20);
// Flatness (after the warm-up): the last window's median against the first window's, windows of up to 5 minutes.
const RSS_GROWTH = Number(process.env.SOAK_RSS_GROWTH ?? 0.1);
const LATENCY_GROWTH = Number(process.env.SOAK_LATENCY_GROWTH ?? 0.25);
const LATENCY_SLACK_MS = Number(process.env.SOAK_LATENCY_SLACK_MS ?? 1);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
const median = (xs: number[]) => pct(xs, 50);
const rssMib = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const bodies = [false, true].map((stream) =>
  JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Summarise the quarterly numbers for the team in two sentences.' }] }));

interface Minute { n: number; errors: number; lat: number[]; rss: number; cpu: number }

const mock = await startChild('bench/proc/mock.ts');
const gw = await startChild('bench/proc/gateway.ts', { UPSTREAM: mock.fields[0]! });
const pid = gw.proc.pid!;
const pool = new Pool(gw.fields[0]!, { connections: CONNECTIONS });
const auth = `Bearer ${gw.fields[1]}`;
const ids: string[] = [];
let seq = 0;

/** One request of the mix (every 1/STREAM_SHARE-th streamed): its exchange id, or a thrown error. */
async function send(): Promise<string> {
  const stream = (seq++ * STREAM_SHARE) % 1 >= 1 - STREAM_SHARE;
  const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: bodies[stream ? 1 : 0]! });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
  if (stream ? !text.trimEnd().endsWith('data: [DONE]') : !text.includes('"chat.completion"')) throw new Error('incomplete answer');
  return String(res.headers['x-portcullis-exchange-id']);
}

/** Closed loop, CONNECTIONS at a time, for MAX_SECONDS: the gateway's maximum rate with this mix. */
async function maxRate(): Promise<number> {
  for (let i = 0; i < 300; i++) await send(); // warm-up (JIT, connections)
  let n = 0;
  const end = performance.now() + MAX_SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < end) {
      await send();
      n++;
    }
  }));
  return n / ((performance.now() - t0) / 1000);
}

/** Requests started on schedule at `rate`/s whatever is in flight, for MINUTES; per-minute figures. */
async function soak(rate: number): Promise<Minute[]> {
  const minutes: Minute[] = Array.from({ length: MINUTES }, () => ({ n: 0, errors: 0, lat: [], rss: 0, cpu: 0 }));
  const t0 = performance.now();
  let cpuMark = processCpu(pid);
  const sampler = setInterval(() => {
    const m = minutes[Math.min(MINUTES - 1, Math.floor((performance.now() - t0) / 60_000) - 1)];
    if (!m) return;
    m.rss = rssMib(pid);
    const cpu = processCpu(pid);
    m.cpu = cpu - cpuMark;
    cpuMark = cpu;
    const i = minutes.indexOf(m);
    console.log(`| ${i + 1} | ${m.n} | ${m.errors} | ${pct(m.lat, 50).toFixed(2)} | ${pct(m.lat, 99).toFixed(2)} | ${m.rss.toFixed(0)} | ${((m.cpu / 60) * 100).toFixed(0)} % |`);
  }, 60_000);
  let inflight = 0;
  let idle: (() => void) | undefined;
  for (let i = 0; i < rate * MINUTES * 60; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const s = performance.now();
    const m = minutes[Math.min(MINUTES - 1, Math.floor((s - t0) / 60_000))]!;
    inflight++;
    m.n++;
    send().then(
      (id) => {
        ids.push(id);
        m.lat.push(performance.now() - s);
      },
      () => void m.errors++,
    ).finally(() => {
      if (--inflight === 0) idle?.();
    });
  }
  if (inflight > 0) await new Promise<void>((r) => (idle = r));
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + MINUTES * 60_000 + 1000 - performance.now()))); // the last minute's sample
  clearInterval(sampler);
  return minutes;
}

/** Exchange ids recorded `completed` since `since` (admin export, JSONL, read line by line: it can be large). */
async function completedIds(since: string): Promise<Set<string>> {
  const res = await request(`${gw.fields[0]}/admin/v1/exchanges/export?format=jsonl&status=completed&since=${encodeURIComponent(since)}`, { headers: { authorization: `Bearer ${gw.fields[2]}` } });
  if (res.statusCode !== 200) throw new Error(`export: HTTP ${res.statusCode}`);
  const out = new Set<string>();
  let buf = '';
  res.body.setEncoding('utf8');
  for await (const chunk of res.body as AsyncIterable<string>) {
    buf += chunk;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const line of lines) if (line) out.add((JSON.parse(line) as { id: string }).id);
  }
  return out;
}

/**
 * Flat = the median over the last window (up to 5 minutes) is within `growth` of the median over the first window
 * after the warm-up, plus `slackMs` for latency (a shared machine's noise at the ms scale). Leaks and queues that
 * grow show as a steady climb, which this catches; a single bad minute does not move a median.
 */
function flat(xs: number[], growth: number, slack = 0): { ok: boolean; first: number; last: number } {
  const measured = xs.slice(WARMUP_MINUTES);
  const w = Math.max(1, Math.min(5, Math.floor(measured.length / 2)));
  const first = median(measured.slice(0, w));
  const last = median(measured.slice(-w));
  return { ok: last <= first * (1 + growth) + slack, first, last };
}

let failed = false;
try {
  const max = process.env.SOAK_RATE ? undefined : await maxRate();
  const rate = Number(process.env.SOAK_RATE ?? Math.max(1, Math.floor(max! / 2)));
  const since = new Date().toISOString();
  console.log(`# Portcullis soak — node ${process.version}; ${max ? `measured maximum ${max.toFixed(0)} req/s (${CONNECTIONS} at a time, ${MAX_SECONDS} s), ` : ''}${rate} req/s for ${MINUTES} min, ${Math.round(STREAM_SHARE * 100)} % streamed; load average before ${loadavg()[0]!.toFixed(2)}\n`);
  console.log('| minute | requests | errors | p50 ms | p99 ms | gateway RSS MiB | gateway CPU |\n|---|---|---|---|---|---|---|');
  const minutes = await soak(rate);
  const sent = minutes.reduce((a, m) => a + m.n, 0);
  const errors = minutes.reduce((a, m) => a + m.errors, 0);
  const recorded = await completedIds(since);
  const lost = ids.filter((id) => !recorded.has(id)).length;
  const verify = await (await fetch(`${gw.fields[0]}/admin/v1/audit/verify`, { headers: { authorization: `Bearer ${gw.fields[2]}` } })).json() as { ok: boolean; entries: number; bodies: { checked: number }; problems: unknown[] };
  const rss = flat(minutes.map((m) => m.rss), RSS_GROWTH);
  const p50 = flat(minutes.map((m) => pct(m.lat, 50)), LATENCY_GROWTH, LATENCY_SLACK_MS);
  const p99 = flat(minutes.map((m) => pct(m.lat, 99)), LATENCY_GROWTH, LATENCY_SLACK_MS);
  const verdicts: [string, boolean][] = [
    [`errors: ${errors} of ${sent} requests`, errors === 0],
    [`lost records: ${lost} of ${ids.length} answered exchanges not recorded completed`, lost === 0],
    [`audit chain: ${verify.ok ? 'verifies' : 'FAILS'} (${verify.entries} entries, ${verify.bodies.checked} bodies, ${verify.problems.length} problems)`, verify.ok],
    [`RSS flat: ${rss.first.toFixed(0)} → ${rss.last.toFixed(0)} MiB (limit +${RSS_GROWTH * 100} %)`, rss.ok],
    [`p50 flat: ${p50.first.toFixed(2)} → ${p50.last.toFixed(2)} ms (limit +${LATENCY_GROWTH * 100} % + ${LATENCY_SLACK_MS} ms)`, p50.ok],
    [`p99 flat: ${p99.first.toFixed(2)} → ${p99.last.toFixed(2)} ms (limit +${LATENCY_GROWTH * 100} % + ${LATENCY_SLACK_MS} ms)`, p99.ok],
  ];
  console.log(`\nverdict (first vs last window after ${WARMUP_MINUTES} warm-up minutes; load average after ${loadavg()[0]!.toFixed(2)}):`);
  for (const [line, ok] of verdicts) console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${line}`);
  failed = verdicts.some(([, ok]) => !ok);
} finally {
  await pool.close();
  gw.proc.kill();
  mock.proc.kill();
}
process.exitCode = failed ? 1 : 0;
