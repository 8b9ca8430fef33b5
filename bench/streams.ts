// `node bench/streams.ts` (run by `npm run bench`): BENCH_STREAMS (default 10,000) streamed requests open at once
// through one Portcullis gateway (SQLite store, recording on, no policy, default upstream pool). The paced mock
// (BENCH_STREAMS_CHUNKS pieces BENCH_STREAMS_CHUNK_MS apart) holds every stream after its first two events until all
// are open, then releases them to go on at their own pace. This process is the load generator; the gateway and the
// mock are child processes. Measures the gateway's RSS with all open and its peak (/proc VmHWM), streams complete vs
// dropped (each must end with [DONE], the exact event count and the echoed text), that every exchange is recorded
// `completed` (admin export), the gateway's CPU per stream, and how late chunks arrive against the mock's pace.
// Each process gets `ulimit -n` raised (bench/proc/start.ts): the gateway holds 2 sockets per stream.
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { split } from '../src/mock/sse.ts';
import { startChild } from './proc/start.ts';
import { processCpu } from './threads.ts';

const ASKED = Number(process.env.BENCH_STREAMS ?? 10_000);
// The gateway holds 2 sockets a stream (client, upstream) and ~100 other descriptors (store, logs, listeners).
// Raising the hard `ulimit -n` needs CAP_SYS_RESOURCE: without it, as many streams as the hard limit allows.
const hardFiles = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '1024';
const HARD_FILES = hardFiles === 'unlimited' ? 1_048_576 : Number(hardFiles);
const N = Math.min(ASKED, Math.floor((HARD_FILES - 256) / 2));
const CHUNKS = Number(process.env.BENCH_STREAMS_CHUNKS ?? 10);
const PACE_MS = Number(process.env.BENCH_STREAMS_CHUNK_MS ?? 2000);
// Streams allowed to wait for their response headers at once while opening: the ramp goes as fast as the gateway
// answers, without a SYN flood past the listen backlog.
const WINDOW = Number(process.env.BENCH_STREAMS_WINDOW ?? 200);
const MAX_FILES = Math.min(HARD_FILES, 2 * N + 256);
// BENCH_CPU_PROF=DIR: the gateway writes a V8 CPU profile there (`node bench/cpu-top.ts FILE`).
const PROF = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];

const mib = (kb: number) => (kb / 1024).toFixed(0);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

/** VmRSS and VmHWM (peak) of a process in KiB, from /proc/<pid>/status. */
function memory(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)![1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)![1]) };
}

const text = 'Stream the build log back line by line. '.repeat(Math.ceil((CHUNKS * 8) / 40)).slice(0, CHUNKS * 8);
const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: text }] });
const expectedText = `echo: ${text}`;
// The mock's chat stream: a role chunk, one chunk per piece, the finish chunk, then [DONE] (src/mock/openai.ts).
const expectedEvents = split(expectedText, CHUNKS).length + 3;

interface Tally { open: number; peakOpen: number; complete: number; failures: Map<string, number>; late: number[] }

/** One stream: checks every event arrives, in order, with the exact text; notes how late each one is. */
async function oneStream(pool: Pool, auth: string, t: Tally, headersIn: () => void): Promise<void> {
  let gotHeaders = false;
  try {
    const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body });
    gotHeaders = true;
    headersIn();
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`HTTP ${res.statusCode}`);
    }
    t.open++;
    t.peakOpen = Math.max(t.peakOpen, t.open);
    res.body.setEncoding('utf8');
    let buf = '';
    let events = 0;
    let content = '';
    let done = false;
    let prev = 0;
    try {
      for await (const piece of res.body as AsyncIterable<string>) {
        buf += piece;
        let end: number;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const event = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const now = performance.now();
          // Events 0 and 1 come before the mock's hold, event 2 after it: pace is measured from event 3 on.
          if (events > 2) t.late.push(Math.max(0, now - prev - PACE_MS));
          prev = now;
          events++;
          const data = event.slice(event.indexOf('data: ') + 6);
          if (data === '[DONE]') done = true;
          else content += (JSON.parse(data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '';
        }
      }
    } finally {
      t.open--;
    }
    if (!done) throw new Error('no [DONE]');
    if (events !== expectedEvents) throw new Error(`${events} events, not ${expectedEvents}`);
    if (content !== expectedText) throw new Error('text differs');
    t.complete++;
  } catch (err) {
    if (!gotHeaders) headersIn();
    const why = (err as { code?: string }).code ?? (err as Error).message;
    t.failures.set(why, (t.failures.get(why) ?? 0) + 1);
  }
}

/**
 * Opens N streams, at most WINDOW awaiting headers at once. `opened` resolves (to the ramp's ms) once every stream has
 * its answer's headers (or failed); `ended` once every stream has ended.
 */
function openAll(url: string, auth: string, t: Tally): { opened: Promise<number>; ended: Promise<void> } {
  const pool = new Pool(url, { connections: N, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  const t0 = performance.now();
  let waiting = 0;
  let answered = 0;
  let wake: (() => void) | undefined;
  let allOpen!: (ms: number) => void;
  const opened = new Promise<number>((r) => (allOpen = r));
  const ended = (async () => {
    const all: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      while (waiting >= WINDOW) await new Promise<void>((r) => (wake = r));
      waiting++;
      all.push(oneStream(pool, auth, t, () => {
        waiting--;
        if (++answered === N) allOpen(performance.now() - t0);
        wake?.();
        wake = undefined;
      }));
    }
    await Promise.all(all);
    await pool.close();
  })();
  return { opened, ended };
}

/** The gateway's recorded exchanges by status (admin export, JSONL), polled until all N are final or it stops moving. */
async function recorded(url: string, adminKey: string): Promise<Map<string, number>> {
  let last = '';
  for (let tries = 0; ; tries++) {
    const res = await fetch(`${url}/admin/v1/exchanges/export?format=jsonl`, { headers: { authorization: `Bearer ${adminKey}` } });
    if (!res.ok) throw new Error(`export: HTTP ${res.status}`);
    const by = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      if (!line) continue;
      const s = (JSON.parse(line) as { status: string }).status;
      by.set(s, (by.get(s) ?? 0) + 1);
    }
    const key = JSON.stringify([...by]);
    if (by.get('completed') === N || key === last || tries > 30) return by;
    last = key;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const mock = await startChild('bench/proc/mock.ts', { MOCK_CHUNKS: String(CHUNKS), MOCK_CHUNK_DELAY_MS: String(PACE_MS), MOCK_HOLD: '1' }, [], MAX_FILES);
const gw = await startChild('bench/proc/gateway.ts', { UPSTREAM: mock.fields[0]!, BENCH_LOOP_DELAY: '1', BENCH_MEMORY: '1' }, PROF, MAX_FILES);
const pid = gw.proc.pid!;
try {
  if (N < ASKED) console.log(`(${ASKED} streams need ulimit -n ≥ ${2 * ASKED + 256} in the gateway; this machine's hard limit is ${HARD_FILES}: running ${N})`);
  console.log(`# ${N} open streams — node ${process.version}; paced mock: ${expectedEvents} events ${PACE_MS} ms apart, held after the second until all are open; ulimit -n ${MAX_FILES} for each process`);
  const t: Tally = { open: 0, peakOpen: 0, complete: 0, failures: new Map(), late: [] };
  const base = memory(pid);
  const cpu0 = processCpu(pid);
  const run = openAll(gw.fields[0]!, `Bearer ${gw.fields[1]}`, t);
  const rampMs = await run.opened;
  const openCpu = processCpu(pid) - cpu0;
  const openAtOnce = t.open;
  await new Promise((r) => setTimeout(r, 3000)); // all open and held: the steady state's memory
  const rssAllOpen = memory(pid).rss;
  process.kill(mock.proc.pid!, 'SIGUSR2'); // release: every stream goes on at its own pace
  await run.ended;
  const cpu = processCpu(pid) - cpu0;
  const peak = memory(pid).hwm;
  const records = await recorded(gw.fields[0]!, gw.fields[2]!);
  const dropped = N - t.complete;
  console.log(`  streams: ${N} sent, ${t.complete} complete (${expectedEvents} events, [DONE], exact text), ${dropped} dropped${dropped ? ` (${[...t.failures].map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''} (goal: none dropped)`);
  console.log(`  open at once: ${openAtOnce} of ${N} when the mock released them (peak ${t.peakOpen}); all opened in ${(rampMs / 1000).toFixed(1)} s`);
  console.log(`  gateway RSS: ${mib(base.rss)} MiB idle, ${mib(rssAllOpen)} MiB with all open, high-water mark ${mib(peak)} MiB (goal < 1024 MiB); ≈ ${((rssAllOpen - base.rss) / Math.max(1, openAtOnce)).toFixed(1)} KiB per open stream`);
  console.log(`  gateway CPU: ${cpu.toFixed(1)} s, ${((cpu / N) * 1e6).toFixed(0)} µs per stream of ${expectedEvents} events (${((openCpu / N) * 1e6).toFixed(0)} µs of it opening it)`);
  console.log(`  chunk lateness against the ${PACE_MS} ms pace (at this client, after the gateway): p50 ${pct(t.late, 50).toFixed(1)} ms, p99 ${pct(t.late, 99).toFixed(1)} ms, max ${pct(t.late, 100).toFixed(1)} ms`);
  console.log(`  records: ${records.get('completed') ?? 0} of ${N} completed${records.size > 1 || !records.has('completed') ? ` (${[...records].map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}`);
} finally {
  await new Promise<void>((r) => {
    gw.proc.once('exit', () => r());
    gw.proc.kill(); // prints the gateway's event-loop delay (BENCH_LOOP_DELAY)
  });
  mock.proc.kill();
}
