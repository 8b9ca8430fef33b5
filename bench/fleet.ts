// `npm run bench:fleet`: the gateway as a fleet (docs/benchmark.md, "Fleet"). 1, 2 and 3 replicas on one
// PostgreSQL behind a real nginx on loopback (test/helpers/fleet.ts), and one replica on SQLite behind the same
// nginx for the per-request cost comparison; recording on, the governed bench policy (20 rules, content section,
// budgets: requests/min per user, tokens per group, monthly spend — counted in the store on every request) pushed
// and activated through the admin API. The mock upstream runs in its own process. Per configuration: throughput
// (closed loop), CPU per request of the replicas (each replica's CPU over the requests nginx gave it), of the
// PostgreSQL backends serving the fleet's database, and of nginx; latency at a fixed rate, added to the direct call;
// where PostgreSQL's backends wait during the throughput phase (fleet-waits.ts); a replica's idle CPU.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { Pool } from 'undici';
import { parse, stringify } from 'yaml';
import { startFleet, type Fleet } from '../test/helpers/fleet.ts';
import { formatWaits, sampleWaits, type WaitReport } from './fleet-waits.ts';
import { policySource } from './policy-source.ts';
import { processCpu } from './threads.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const N = Number(process.env.BENCH_REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 24);
const RATE = Number(process.env.BENCH_RATE ?? 150);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 6);
const REPLICAS = (process.env.BENCH_FLEET_REPLICAS ?? '1,2,3').split(',').map(Number);
/** `1`: the throughput phase's concurrency is BENCH_CONCURRENCY per replica (each replica batches as one does alone). */
const PER_REPLICA = process.env.BENCH_FLEET_CONCURRENCY_PER_REPLICA === '1';
/** `0`: the policy without its budgets section (no counter reads or writes): what the counters cost, by difference. */
const BUDGETS = process.env.BENCH_FLEET_BUDGETS !== '0';
/** Sample pg_stat_activity every this many ms during the throughput phase (0: off). */
const IDLE_MS = 3000;
const WAIT_SAMPLE_MS = Number(process.env.BENCH_FLEET_WAIT_SAMPLE_MS ?? 20);

interface Target { name: string; url: string; auth: string }
interface Result { name: string; replicas: number; idleMsPerS: number; secs: number; rps: number; gwCpuMs: number; perReplica: string; dbCpuMs: number; dbWork: string; lbCpuMs: number; p50: number; p99: number; waits: WaitReport | undefined }

const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Summarise the quarterly numbers for the team in two sentences.' }] });

async function request(pool: Pool, t: Target): Promise<void> {
  const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json', authorization: t.auth }, body });
  if (res.statusCode !== 200) throw new Error(`${t.name}: HTTP ${res.statusCode} ${await res.body.text()}`);
  await res.body.dump();
}

/** n requests, `concurrency` at a time: wall seconds. */
async function closedLoop(t: Target, n: number, concurrency = CONCURRENCY): Promise<number> {
  const pool = new Pool(t.url, { connections: concurrency });
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < n) await request(pool, t);
  }));
  await pool.close();
  return (performance.now() - t0) / 1000;
}

/** Requests started at RATE per second whatever is in flight: each one's latency (ms). */
async function fixedRate(t: Target): Promise<number[]> {
  const pool = new Pool(t.url, { connections: 64 });
  const lat: number[] = [];
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < RATE * RATE_SECONDS; i++) {
    const wait = t0 + (i * 1000) / RATE - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const s = performance.now();
    inflight.push(request(pool, t).then(() => void lat.push(performance.now() - s)));
  }
  await Promise.all(inflight);
  await pool.close();
  return lat;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

/** The PostgreSQL backend processes serving `db` right now, with their CPU seconds. */
async function backendCpu(client: pg.Client, db: string): Promise<Map<number, number>> {
  const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      out.set(pid, processCpu(pid));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/**
 * The database's commits, written rows, rollbacks and deadlocks so far (pg_stat_database; a little behind, flushed
 * by the stats collector). A rollback is a failed batch of the recording group commit: it is then retried call by
 * call, so rollbacks per request say whether the batching held.
 */
async function dbCounters(client: pg.Client, db: string): Promise<number[]> {
  await client.query('SELECT pg_stat_force_next_flush()').catch(() => undefined); // PostgreSQL >= 15
  const { rows } = await client.query<{ c: string; i: string; u: string; d: string; r: string; x: string }>(
    'SELECT xact_commit AS c, tup_inserted AS i, tup_updated AS u, tup_deleted AS d, xact_rollback AS r, deadlocks AS x FROM pg_stat_database WHERE datname = $1', [db]);
  const r = rows[0];
  return r ? [Number(r.c), Number(r.i), Number(r.u), Number(r.d), Number(r.r), Number(r.x)] : [0, 0, 0, 0, 0, 0];
}

/** CPU used by backends between two readings (a backend that started meanwhile counts from zero). */
const backendDelta = (a: Map<number, number>, b: Map<number, number>): number => [...b].reduce((s, [pid, cpu]) => s + cpu - (a.get(pid) ?? 0), 0);

/** nginx worker processes (children of the master). */
function nginxPids(master: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === master;
    } catch {
      return false;
    }
  }).concat(master);
}

async function governedKey(fleet: Fleet): Promise<string> {
  const admin = async (path: string, payload: unknown): Promise<Record<string, string>> => {
    const res = await fetch(`${fleet.lb!.url}${path}`, { method: 'POST', body: JSON.stringify(payload), headers: { 'content-type': 'application/json', authorization: `Bearer ${fleet.adminKey}` } });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, string>;
  };
  const source = policySource(20, { governed: true });
  const doc = parse(source) as Record<string, unknown>;
  if (!BUDGETS) delete doc.budgets;
  const { id } = await admin('/admin/v1/policies', { source: BUDGETS ? source : stringify(doc), message: 'bench:fleet policy' });
  await admin(`/admin/v1/policies/${id}/activate`, {});
  const { key } = await admin('/admin/v1/keys', { name: 'bench', kind: 'user', groups: ['eng'] });
  return key!;
}

/** Every replica has the policy: an e-mail address in a prompt comes back masked from each of them. */
async function checkPolicyEverywhere(fleet: Fleet, key: string): Promise<void> {
  const probe = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Write to jane.doe@example.com today.' }] });
  for (const r of fleet.replicas) {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', body: probe, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } });
      const text = await res.text();
      if (res.status === 200 && text.includes('[EMAIL_ADDRESS]') && !text.includes('jane.doe@')) break;
      if (attempt > 300) throw new Error(`replica ${r.index}: policy not active: ${res.status} ${text}`);
      await new Promise((ok) => setTimeout(ok, 100)); // activation reaches the other replicas by poll/notify
    }
  }
}

async function measure(name: string, fleet: Fleet): Promise<Omit<Result, 'p50' | 'p99'> & { lat: number[] }> {
  const key = await governedKey(fleet);
  await checkPolicyEverywhere(fleet, key);
  const t: Target = { name, url: fleet.lb!.url, auth: `Bearer ${key}` };
  await closedLoop(t, 300); // warm-up: JIT, connections, pools
  const db = fleet.directStoreUrl ? new pg.Client({ connectionString: fleet.directStoreUrl }) : undefined;
  await db?.connect();
  const dbName = fleet.directStoreUrl ? new URL(fleet.directStoreUrl).pathname.slice(1) : '';
  const pids = fleet.replicas.map((r) => r.proc!.pid!);
  // What a replica spends with no request (heartbeat, lease recovery, polls, listeners): part of every per-request figure.
  await new Promise((ok) => setTimeout(ok, 1000)); // the warm-up's last writes
  const idle0 = pids.map(processCpu);
  await new Promise((ok) => setTimeout(ok, IDLE_MS));
  const idleMsPerS = (pids.reduce((s, p, i) => s + processCpu(p) - idle0[i]!, 0) / pids.length / IDLE_MS) * 1e6;
  const lbPids = nginxPids(fleet.lb!.proc.pid!);
  const served0 = fleet.lb!.accessLog().length;
  const cpu0 = pids.map(processCpu);
  const lb0 = lbPids.reduce((s, p) => s + processCpu(p), 0);
  const db0 = db ? await backendCpu(db, dbName) : new Map<number, number>();
  const work0 = db ? await dbCounters(db, dbName) : [];
  const sampler = db && WAIT_SAMPLE_MS > 0 ? sampleWaits(db, dbName, WAIT_SAMPLE_MS) : undefined;
  const secs = await closedLoop(t, N, PER_REPLICA ? CONCURRENCY * fleet.replicas.length : CONCURRENCY);
  const waits = await sampler?.stop();
  const db1 = db ? await backendCpu(db, dbName) : new Map<number, number>();
  // Let the replicas finish recording (finishes, chain entries, budget usage are written after the answer).
  await new Promise((ok) => setTimeout(ok, 1500));
  const work = db ? (await dbCounters(db, dbName)).map((v, i) => (v - work0[i]!) / N) : [];
  const dbWork = db ? `${work.slice(0, 4).map((v) => v.toFixed(1)).join(' / ')} / ${work[4]!.toFixed(2)} / ${(work[5]! * N).toFixed(0)}` : '-';
  const cpu = pids.map((p, i) => processCpu(p) - cpu0[i]!);
  const lbCpu = lbPids.reduce((s, p) => s + processCpu(p), 0) - lb0;
  const log = fleet.lb!.accessLog().slice(served0);
  const perReplica = fleet.replicas.map((r, i) => {
    const n = log.filter((e) => e.upstream === `127.0.0.1:${r.port}`).length;
    return `${n ? ((cpu[i]! / n) * 1000).toFixed(3) : '-'} (${n})`;
  }).join(' / ');
  const lat = await fixedRate(t);
  await db?.end();
  const total = cpu.reduce((a, b) => a + b, 0);
  return { name, replicas: fleet.replicas.length, idleMsPerS, secs, rps: N / secs, gwCpuMs: (total / N) * 1000, perReplica, dbCpuMs: (backendDelta(db0, db1) / N) * 1000, lbCpuMs: (lbCpu / N) * 1000, dbWork, lat, waits };
}

function startMock(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['bench/proc/mock.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /READY (\S+)/.exec(buf);
      if (m?.[1]) resolve({ proc, url: m[1] });
    });
    proc.once('exit', (c) => reject(new Error(`mock exited ${c}`)));
  });
}

const mock = await startMock();
const direct = await fixedRate({ name: 'direct', url: mock.url, auth: 'Bearer direct' });
const d50 = pct(direct, 50);
const d99 = pct(direct, 99);
const results: Result[] = [];
const configs: { name: string; store: 'sqlite' | 'postgres'; replicas: number }[] = [
  { name: 'sqlite', store: 'sqlite', replicas: 1 },
  ...REPLICAS.map((n) => ({ name: `postgres x${n}`, store: 'postgres' as const, replicas: n })),
];
for (const c of configs) {
  const fleet = await startFleet({ replicas: c.replicas, store: c.store, dbProxy: false, upstreamUrl: mock.url, logLevel: 'warn' });
  try {
    const { lat, ...r } = await measure(c.name, fleet);
    results.push({ ...r, p50: pct(lat, 50) - d50, p99: pct(lat, 99) - d99 });
    process.stderr.write(`${c.name}: done\n`);
  } finally {
    await fleet.close();
  }
}
mock.proc.kill('SIGTERM');

const f = (n: number, d = 3): string => n.toFixed(d);
console.log(`\nmachine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}; ${N} requests, concurrency ${CONCURRENCY}${PER_REPLICA ? ' per replica' : ''}; budgets ${BUDGETS ? 'on' : 'off'}; latency at ${RATE}/s for ${RATE_SECONDS}s, direct p50 ${f(d50, 2)} ms p99 ${f(d99, 2)} ms\n`);
console.log('| store | replicas | req/s | gateway CPU ms/req (all) | per replica ms/req (requests) | PostgreSQL CPU ms/req | commits / inserted / updated / deleted rows / rollbacks per req / deadlocks | nginx CPU ms/req | added p50 ms | added p99 ms |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.name.split(' ')[0]} | ${r.replicas} | ${f(r.rps, 0)} | ${f(r.gwCpuMs)} | ${r.perReplica} | ${r.name === 'sqlite' ? '(in the gateway: pcl-store thread)' : f(r.dbCpuMs)} | ${r.dbWork} | ${f(r.lbCpuMs)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} |`);
}
const sqlite = results.find((r) => r.name === 'sqlite');
const pg1 = results.find((r) => r.name === 'postgres x1');
if (sqlite && pg1) {
  console.log(`\nper-request cost on PostgreSQL vs SQLite (1 replica): gateway ${f(pg1.gwCpuMs / sqlite.gwCpuMs, 2)}x, gateway + database ${f((pg1.gwCpuMs + pg1.dbCpuMs) / sqlite.gwCpuMs, 2)}x (goal: within 1.3x)`);
}
for (const r of results.filter((x) => x.name !== 'sqlite')) {
  console.log(`database share at ${r.replicas} replica(s): ${f((100 * r.dbCpuMs) / (r.dbCpuMs + r.gwCpuMs), 1)}% of gateway + database CPU`);
}
for (const r of results) {
  console.log(`${r.name}: a replica uses ${f(r.idleMsPerS, 1)} ms CPU per second idle; over the ${f(r.secs, 1)} s of the throughput phase that is ${f((r.idleMsPerS * r.secs * r.replicas) / N)} ms of the gateway CPU per request`);
}
for (const r of results) if (r.waits) console.log(`\n${formatWaits(r.name, r.waits)}`);
