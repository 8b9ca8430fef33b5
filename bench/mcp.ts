// `node bench/mcp.ts` (also run by `npm run bench`): what the gateway adds to an MCP tool call. A minimal MCP
// server (raw JSON-RPC over HTTP, JSON answers, so its own cost is tiny and the same on every path) is called
// directly and through Portcullis (a child process, recording on): without a policy, and with an `mcp:` policy plus
// content masking (pins are checked on every call either way); then through the aggregated endpoint `/mcp`
// (`tickets__lookup`, one more loopback hop as the caller), and a stdio server (bench/proc/mcp-stdio-server.ts)
// driven directly over its pipes and through the gateway's stdio bridge; then sessionless 2026-07-28 calls (the
// `_meta` envelope and standard headers on every request) to a server that speaks it (forwarded sessionless) and to
// the same server as a 2025-era one (`?era=2025`: translated into a gateway-held session). Prints p50/p99 latency of sequential calls
// and the gateway's CPU per call under concurrency (the stdio server's own process excluded, as the HTTP server's
// is), each next to its direct call. BENCH_MCP_CALLS (default 3000).
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
const INIT = { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'bench-http', version: '1' } };
const DISCOVER = { supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, ttlMs: 0, cacheScope: 'private' };
/** The per-request envelope of 2026-07-28 (the v2 SDK client sends these three keys on every request). */
const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const upstream = createServer((req, res) => {
  // No server stream (GET) and no session: the specification's 405 for a server that offers none.
  if (req.method !== 'POST') return void res.writeHead(405).end();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number; method: string; params?: { arguments?: unknown; _meta?: object } };
    if (m.id === undefined) return void res.writeHead(202).end();
    // 2026-07-28 (server/discover, `resultType` on every result), unless this server plays a 2025-era one.
    const modern = !req.url?.includes('era=2025');
    if (m.method === 'server/discover' && !modern) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } }));
    const result = m.method === 'initialize' ? INIT : m.method === 'tools/list' ? { tools: [TOOL] }
      : m.method === 'server/discover' ? DISCOVER
      : m.method === 'tools/call' ? { content: [{ type: 'text', text: `ticket ${JSON.stringify(m.params?.arguments)} is open` }] } : {};
    const answer = modern && m.params?._meta ? { resultType: 'complete', ...result } : result;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: answer }));
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

const STDIO_SERVER = join(ROOT, 'bench/proc/mcp-stdio-server.ts');

function startGateway(policy: boolean): Promise<{ proc: ChildProcess; url: string; key: string }> {
  // Always the same servers: the aggregate and the stdio bridge are only used by their own rows.
  const extra = `${policy ? `policy: { file: ${join(dir, 'policy.yaml')} }\n` : ''}mcp:
  aggregate: { path: /mcp, servers: [tickets] }
  servers:
    - { name: tickets, url: "${upstreamUrl}" }
    - { name: tickets2025, url: "${upstreamUrl}?era=2025" }
    - { name: local, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_SERVER)}], stdio: { max_processes: 4 } }
`;
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

/**
 * `session`: the endpoint needs an initialized MCP session (the aggregate, a stdio server: one process per session).
 * `sessionless`: 2026-07-28 requests (the envelope in `_meta`, `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name`).
 */
interface Target { name: string; origin: string; path: string; headers: Record<string, string>; pid?: number; tool?: string; session?: boolean; sessionless?: boolean }

let nextId = 1;
async function call(pool: Pool, t: Target, method: string, params: Record<string, unknown>): Promise<void> {
  const body = { jsonrpc: '2.0', id: nextId++, method, params: t.sessionless ? { ...params, _meta: ENVELOPE } : params };
  const headers = t.sessionless
    ? { ...t.headers, 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(typeof params.name === 'string' ? { 'mcp-name': params.name } : {}) }
    : t.headers;
  const res = await pool.request({ path: t.path, method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.body.text();
  if (res.statusCode !== 200 || text.includes('"error"')) throw new Error(`${t.name}: ${res.statusCode} ${text.slice(0, 200)}`);
}

/** initialize + notifications/initialized; later requests carry the session id. */
async function openSession(pool: Pool, t: Target): Promise<void> {
  const res = await pool.request({
    path: t.path, method: 'POST', headers: t.headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }),
  });
  await res.body.text();
  const sid = res.headers['mcp-session-id'];
  if (res.statusCode !== 200 || typeof sid !== 'string') throw new Error(`${t.name}: initialize answered ${res.statusCode}`);
  t.headers = { ...t.headers, 'mcp-session-id': sid };
  await (await pool.request({ path: t.path, method: 'POST', headers: t.headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).body.dump();
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function measure(t: Target): Promise<{ p50: number; p99: number; cpuMs: number | undefined }> {
  const pool = new Pool(t.origin, { connections: CONCURRENCY });
  if (t.session) await openSession(pool, t);
  const params = { name: t.tool ?? 'lookup', arguments: ARGS };
  await call(pool, t, 'tools/list', {});
  for (let i = 0; i < 200; i++) await call(pool, t, 'tools/call', params); // warm-up
  const lat: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    await call(pool, t, 'tools/call', params);
    lat.push(performance.now() - t0);
  }
  const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
  let left = N;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (left-- > 0) await call(pool, t, 'tools/call', params);
  }));
  const cpuMs = t.pid ? ((cpuSeconds(t.pid) - cpu0) * 1000) / N : undefined;
  await pool.close();
  return { p50: pct(lat, 50), p99: pct(lat, 99), cpuMs };
}

const ARGS = { id: 'T-1234', note: 'customer alice@example.com asked twice' };

/** p50/p99 of sequential calls to the stdio server over its own pipes: the stdio rows' direct baseline. */
async function measureStdioDirect(): Promise<{ p50: number; p99: number }> {
  const proc = spawn(process.execPath, [STDIO_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map<number, () => void>();
  let buf = '';
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const m = JSON.parse(buf.slice(0, nl)) as { id: number };
      buf = buf.slice(nl + 1);
      waiting.get(m.id)?.();
    }
  });
  const rpc = (method: string, params: unknown): Promise<void> => new Promise((ok) => {
    const id = nextId++;
    waiting.set(id, ok);
    proc.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
  });
  try {
    await rpc('initialize', {});
    for (let i = 0; i < 200; i++) await rpc('tools/call', { name: 'lookup', arguments: ARGS });
    const lat: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = performance.now();
      await rpc('tools/call', { name: 'lookup', arguments: ARGS });
      lat.push(performance.now() - t0);
    }
    return { p50: pct(lat, 50), p99: pct(lat, 99) };
  } finally {
    proc.kill();
  }
}

const row = (name: string, r: { p50: number; p99: number; cpuMs?: number | undefined }, base?: { p50: number }): string =>
  `${name.padEnd(22)} p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms${base ? `  added p50 ${(r.p50 - base.p50).toFixed(3)} ms` : ''}${r.cpuMs !== undefined ? `  gateway CPU ${r.cpuMs.toFixed(3)} ms/call` : ''}`;

const gateways: ChildProcess[] = [];
try {
  const u = new URL(upstreamUrl);
  const direct = await measure({ name: 'direct', origin: u.origin, path: u.pathname, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } });
  console.log(row('direct', direct));
  for (const policy of [false, true]) {
    const g = await startGateway(policy);
    gateways.push(g.proc);
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${g.key}`, 'mcp-protocol-version': '2025-06-18' };
    const r = await measure({ name: policy ? 'portcullis+policy' : 'portcullis', origin: g.url, path: '/mcp/tickets', pid: g.proc.pid, headers });
    console.log(row(policy ? 'portcullis+policy' : 'portcullis', r, direct));
    if (policy) continue;
    // The aggregated endpoint and the stdio bridge, without a policy: compare with the `portcullis` row.
    const agg = await measure({ name: 'aggregate', origin: g.url, path: '/mcp', pid: g.proc.pid, headers, tool: 'tickets__lookup', session: true });
    console.log(row('portcullis aggregate', agg, direct));
    const stdioDirect = await measureStdioDirect();
    console.log(row('stdio direct', stdioDirect));
    const stdio = await measure({ name: 'stdio', origin: g.url, path: '/mcp/local', pid: g.proc.pid, headers, session: true });
    console.log(row('portcullis stdio', stdio, stdioDirect));
    // 2026-07-28: direct, through the gateway to the same server (sessionless), and to it as a 2025-era server.
    const sessionless = { ...headers, 'mcp-protocol-version': '2026-07-28' };
    const modernDirect = await measure({ name: '2026-07-28 direct', origin: u.origin, path: u.pathname, headers: sessionless, sessionless: true });
    console.log(row('2026-07-28 direct', modernDirect));
    const modern = await measure({ name: '2026-07-28', origin: g.url, path: '/mcp/tickets', pid: g.proc.pid, headers: sessionless, sessionless: true });
    console.log(row('portcullis 2026-07-28', modern, modernDirect));
    const translated = await measure({ name: '2026→2025', origin: g.url, path: '/mcp/tickets2025', pid: g.proc.pid, headers: sessionless, sessionless: true });
    console.log(row('portcullis 2026→2025', translated, modernDirect));
  }
} finally {
  for (const p of gateways) p.kill();
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
}
