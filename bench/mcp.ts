// `node bench/mcp.ts` (also run by `npm run bench`): what the gateway adds to an MCP tool call. A minimal MCP
// server (raw JSON-RPC over HTTP, JSON answers, so its own cost is tiny and the same on every path) is called
// directly and through Portcullis (a child process, recording on): without a policy, and with an `mcp:` policy plus
// content masking (pins are checked on every call either way). Prints p50/p99 latency of sequential calls and the
// gateway's CPU per call under concurrency, each next to the direct call. BENCH_MCP_CALLS (default 3000).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';

const ROOT = new URL('..', import.meta.url).pathname;
const N = Number(process.env.BENCH_MCP_CALLS ?? 3000);
const SAMPLES = Math.min(N, 1000);
const CONCURRENCY = 16;

const TOOL = { name: 'lookup', description: 'Looks a ticket up.', inputSchema: { type: 'object', properties: { id: { type: 'string' } } } };
const upstream = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number; method: string; params?: { arguments?: unknown } };
    if (m.id === undefined) return void res.writeHead(202).end();
    const result = m.method === 'tools/list' ? { tools: [TOOL] } : m.method === 'tools/call' ? { content: [{ type: 'text', text: `ticket ${JSON.stringify(m.params?.arguments)} is open` }] } : {};
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
  });
});
await new Promise<void>((ok) => upstream.listen(0, '127.0.0.1', ok));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;

const dir = mkdtempSync(join(tmpdir(), 'pcl-bench-mcp-'));
writeFileSync(join(dir, 'policy.yaml'), `version: 1
rules: []
content:
  rules:
    - { id: pii, types: [EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD], direction: both, action: mask }
    - { id: secrets, types: ["SECRET_*"], action: block }
mcp:
  rules:
    - { id: eng, effect: allow, subjects: { groups: [eng] }, servers: [tickets] }
    - { id: no-delete, effect: deny, servers: ["*"], tools: ["delete_*"] }
    - { id: prod, effect: deny, servers: [tickets], tools: [lookup], when: 'request.argument_text.contains("DROP")' }
`);

function startGateway(policy: boolean): Promise<{ proc: ChildProcess; url: string; key: string }> {
  const extra = `${policy ? `policy: { file: ${join(dir, 'policy.yaml')} }\n` : ''}mcp:\n  servers:\n    - { name: tickets, url: "${upstreamUrl}" }\n`;
  const proc = spawn(process.execPath, ['bench/proc/gateway.ts'], { cwd: ROOT, env: { ...process.env, UPSTREAM: 'http://127.0.0.1:9', GATEWAY_EXTRA_YAML: extra }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('READY '));
      if (line) {
        const [url, key] = line.slice(6).trim().split(' ');
        resolve({ proc, url: url!, key: key! });
      }
    });
    proc.once('exit', (c) => reject(new Error(`gateway exited ${c}`)));
  });
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface Target { name: string; origin: string; path: string; headers: Record<string, string>; pid?: number }

let nextId = 1;
async function call(pool: Pool, t: Target, method: string, params: unknown): Promise<void> {
  const res = await pool.request({ path: t.path, method: 'POST', headers: t.headers, body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }) });
  const text = await res.body.text();
  if (res.statusCode !== 200 || text.includes('"error"')) throw new Error(`${t.name}: ${res.statusCode} ${text.slice(0, 200)}`);
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function measure(t: Target): Promise<{ p50: number; p99: number; cpuMs: number | undefined }> {
  const pool = new Pool(t.origin, { connections: CONCURRENCY });
  const args = { id: 'T-1234', note: 'customer alice@example.com asked twice' };
  await call(pool, t, 'tools/list', {});
  for (let i = 0; i < 200; i++) await call(pool, t, 'tools/call', { name: 'lookup', arguments: args }); // warm-up
  const lat: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    await call(pool, t, 'tools/call', { name: 'lookup', arguments: args });
    lat.push(performance.now() - t0);
  }
  const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
  let left = N;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (left-- > 0) await call(pool, t, 'tools/call', { name: 'lookup', arguments: args });
  }));
  const cpuMs = t.pid ? ((cpuSeconds(t.pid) - cpu0) * 1000) / N : undefined;
  await pool.close();
  return { p50: pct(lat, 50), p99: pct(lat, 99), cpuMs };
}

const gateways: ChildProcess[] = [];
try {
  const u = new URL(upstreamUrl);
  const direct = await measure({ name: 'direct', origin: u.origin, path: u.pathname, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } });
  console.log(`direct            p50 ${direct.p50.toFixed(3)} ms  p99 ${direct.p99.toFixed(3)} ms`);
  for (const policy of [false, true]) {
    const g = await startGateway(policy);
    gateways.push(g.proc);
    const r = await measure({
      name: policy ? 'portcullis+policy' : 'portcullis', origin: g.url, path: '/mcp/tickets', pid: g.proc.pid,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${g.key}`, 'mcp-protocol-version': '2025-06-18' },
    });
    console.log(`${(policy ? 'portcullis+policy' : 'portcullis').padEnd(17)} p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  added p50 ${(r.p50 - direct.p50).toFixed(3)} ms  gateway CPU ${r.cpuMs!.toFixed(3)} ms/call`);
  }
} finally {
  for (const p of gateways) p.kill();
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
}
