import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockUpstream, type MockUpstream } from '../../src/mock/server.ts';
import { startNginx, type Nginx } from './nginx.ts';
import { startTestPostgres, type TestPostgres } from './postgres.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export { startNginx, type Nginx } from './nginx.ts';
export { startTcpProxy, type ProxyMode, type TcpProxy } from './tcp-proxy.ts';

/**
 * A fleet on loopback, every part real: N gateway replicas as child processes (`bin/portcullis.js serve --config`)
 * sharing one fresh PostgreSQL database and one master key file, optionally behind a real nginx and talking to
 * PostgreSQL through a TCP proxy that can refuse, go silent (a partition) or drop every connection (a restart).
 *
 *     const fleet = await startFleet({ replicas: 3 });
 *     new OpenAI({ baseURL: `${fleet.lb!.url}/v1`, apiKey: fleet.adminKey })
 *     await fleet.kill(1);       // SIGKILL, like a crashed node
 *     await fleet.terminate(2);  // SIGTERM, await the exit code (a rolling restart's first half)
 *     await fleet.restart(1);    // same port, same writer id, waits for /readyz
 *     fleet.dbProxy!.setMode('silent');
 *     await fleet.close();
 *
 * Replica i has writer id `fleet-<i>` (audit chain), its own config file and log buffer; replica 0 starts first on
 * the empty store and writes the bootstrap admin key to `auth.bootstrap_admin_key_file` (the same file serves every
 * replica: keys live in the shared store). Providers point at one mock upstream (src/mock, OpenAI + Anthropic wire
 * formats): provider `openai` for `gpt-*`, `anthropic` for `claude-*`.
 */
export interface FleetOptions {
  replicas: number;
  /** `sqlite`: each replica on its own SQLite file — one replica is laptop mode, for comparisons (default postgres). */
  store?: 'postgres' | 'sqlite';
  /** Put nginx in front (default true). */
  loadBalancer?: boolean;
  /** Route the replicas' database connections through a TcpProxy (default true). */
  dbProxy?: boolean;
  /** Extra keys of the `server` and `store` sections (e.g. `storeKeys: { lease: { ttl_ms: 1500 } }`), for every replica. */
  server?: Record<string, unknown>;
  storeKeys?: Record<string, unknown>;
  /** Extra keys of the `auth` section (e.g. `key_cache_ttl_ms`). */
  auth?: Record<string, unknown>;
  /** Extra top-level YAML for every replica's config; a function gets the replica index. */
  extraYaml?: string | ((index: number) => string);
  /** An upstream to use instead of starting the in-process mock (e.g. a mock in its own process for the benchmark). */
  upstreamUrl?: string;
  mock?: { chunks?: number; chunkDelayMs?: number; record?: boolean };
  /** Gateway log level captured per replica (default info: the tests read events such as shutdown and recovery). */
  logLevel?: string;
  /** Extra keys of the `logging` section (e.g. `{ repeat_interval_ms: 2000 }`). */
  logging?: Record<string, unknown>;
  /** Extra environment for every replica. */
  env?: Record<string, string>;
}

export interface Replica {
  index: number;
  writerId: string;
  /** Fixed for the fleet's lifetime (nginx's upstream list names it), kept across restarts. */
  port: number;
  url: string;
  configFile: string;
  /** The running process; undefined while stopped. */
  proc: ChildProcess | undefined;
  /** stdout + stderr of every run of this replica, in order (bounded to the last 1 MiB). */
  logs(): string;
  /** Resolves with the exit code (or signal name) of the current run. */
  exited: Promise<number | string>;
}

export interface Fleet {
  dir: string;
  replicas: Replica[];
  /** An admin key (bootstrap), valid on every replica. */
  adminKey: string;
  /** The shared database as the replicas reach it (through the proxy when there is one) and directly ('' on SQLite). */
  storeUrl: string;
  directStoreUrl: string;
  masterKeyFile: string;
  lb: Nginx | undefined;
  dbProxy: TcpProxy | undefined;
  upstream: { url: string; mock: MockUpstream | undefined };
  /** SIGKILL one replica and wait until it is gone (in-flight exchanges stay as they were in the store). */
  kill(index: number): Promise<void>;
  /** SIGTERM one replica and wait for its exit: the exit code (0 on a clean drain) or signal name. */
  terminate(index: number): Promise<number | string>;
  /** Start a stopped replica again (or stop it first) on the same port and config; resolves when /readyz says 200. */
  restart(index: number): Promise<void>;
  close(): Promise<void>;
}

const ROOT = new URL('../..', import.meta.url).pathname;
const NODE = join(ROOT, 'node_modules/.bin/node');
const READY_TIMEOUT_MS = Number(process.env.PORTCULLIS_FLEET_READY_TIMEOUT_MS ?? 90_000);

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  if (o.store === 'sqlite' && o.replicas !== 1) throw new RangeError('SQLite is one replica: replicas share a store only on PostgreSQL');
  const dir = mkdtempSync(join(tmpdir(), 'pcl-fleet-'));
  const cleanups: (() => Promise<unknown>)[] = [async () => rmSync(dir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const pg: TestPostgres | undefined = o.store === 'sqlite' ? undefined : await startTestPostgres();
    if (pg) cleanups.push(() => pg.stop());
    const dbProxy = o.dbProxy === false || !pg ? undefined : await startTcpProxy(pgTarget(pg.url));
    if (dbProxy) cleanups.push(() => dbProxy.close());
    const mock = o.upstreamUrl ? undefined : await startMockUpstream({ host: '127.0.0.1', port: 0, chunks: o.mock?.chunks ?? 4, chunkDelayMs: o.mock?.chunkDelayMs ?? 0, record: o.mock?.record ?? false });
    if (mock) cleanups.push(() => mock.close());
    const upstreamUrl = o.upstreamUrl ?? mock!.url;
    const masterKeyFile = join(dir, 'master.key');
    writeFileSync(masterKeyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    const storeUrl = !pg ? '' : dbProxy ? dbProxy.urlThrough(pg.url) : pg.url;
    const adminKeyFile = join(dir, 'admin.key');

    const replicas: Replica[] = [];
    cleanups.push(async () => Promise.all(replicas.map((r) => stopReplica(r, 'SIGKILL'))));
    const make = (index: number): Replica => {
      const rdir = join(dir, `replica-${index}`);
      mkdirSync(rdir);
      const extra = typeof o.extraYaml === 'function' ? o.extraYaml(index) : (o.extraYaml ?? '');
      const configFile = join(rdir, 'config.yaml');
      writeFileSync(configFile, replicaConfig({
        index, storeUrl: storeUrl || `sqlite:${join(rdir, 'portcullis.db')}`, masterKeyFile, adminKeyFile, upstreamUrl, logLevel: o.logLevel ?? 'info', extra,
        server: o.server, store: o.storeKeys, auth: o.auth,
      }));
      const r: Replica = { index, writerId: `fleet-${index}`, port: 0, url: '', configFile, proc: undefined, logs: () => '', exited: Promise.resolve(0) };
      replicas.push(r);
      return r;
    };
    const env = { ...process.env, ...o.env, PCL_FLEET_UPSTREAM_KEY: 'sk-fleet-upstream-' + 'z'.repeat(20) };
    // Replica 0 alone first: it migrates the empty database and writes the bootstrap admin key.
    await runReplica(make(0), env);
    await Promise.all(Array.from({ length: o.replicas - 1 }, (_, i) => runReplica(make(i + 1), env)));
    const adminKey = readFileSync(adminKeyFile, 'utf8').trim();

    const lb = o.loadBalancer === false ? undefined : await startNginx({ dir, upstreams: replicas.map((r) => `127.0.0.1:${r.port}`) });
    if (lb) cleanups.push(() => lb.stop());

    const get = (index: number): Replica => {
      const r = replicas[index];
      if (!r) throw new RangeError(`no replica ${index}`);
      return r;
    };
    return {
      dir, replicas, adminKey, storeUrl, directStoreUrl: pg?.url ?? '', masterKeyFile, lb, dbProxy,
      upstream: { url: upstreamUrl, mock },
      kill: async (i) => void (await stopReplica(get(i), 'SIGKILL')),
      terminate: (i) => stopReplica(get(i), 'SIGTERM'),
      async restart(i) {
        const r = get(i);
        await stopReplica(r, 'SIGTERM');
        await runReplica(r, env);
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function replicaConfig(c: {
  index: number; storeUrl: string; masterKeyFile: string; adminKeyFile: string; upstreamUrl: string; logLevel: string; extra: string;
  server: Record<string, unknown> | undefined; store: Record<string, unknown> | undefined; auth: Record<string, unknown> | undefined;
  logging?: Record<string, unknown>;
}): string {
  const keys = (section: Record<string, unknown> | undefined): string => Object.entries(section ?? {}).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('');
  return `# replica ${c.index}, generated by test/helpers/fleet.ts
server:
  listen: 127.0.0.1:0
  trust_proxy: true
${keys(c.server)}store:
  url: ${JSON.stringify(c.storeUrl)}
${keys(c.store)}master_key: ${JSON.stringify(`file:${c.masterKeyFile}`)}
auth:
  bootstrap_admin_key_file: ${JSON.stringify(c.adminKeyFile)}
${keys(c.auth)}audit:
  writer_id: fleet-${c.index}
logging:
  level: ${c.logLevel}
${keys(c.logging)}recording:
  flush_interval_ms: 20
providers:
  - name: openai
    type: openai-compatible
    base_url: ${c.upstreamUrl}/v1
    api_key: env:PCL_FLEET_UPSTREAM_KEY
  - name: anthropic
    type: anthropic
    base_url: ${c.upstreamUrl}
    api_key: env:PCL_FLEET_UPSTREAM_KEY
routes:
  - model: "gpt-*"
    provider: openai
  - model: "claude-*"
    provider: anthropic
${c.extra}
`;
}

const LOG_LIMIT = 1 << 20;
const LISTENING = /portcullis listening on http:\/\/127\.0\.0\.1:(\d+)/;

/** Spawn the replica (its fixed port once known) and wait until /readyz answers 200. */
async function runReplica(r: Replica, env: NodeJS.ProcessEnv): Promise<void> {
  const previous = r.logs();
  let log = '';
  const listen = r.port ? ['--listen', `127.0.0.1:${r.port}`] : [];
  const proc = spawn(NODE, [join(ROOT, 'bin/portcullis.js'), 'serve', '--config', r.configFile, ...listen], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  r.proc = proc;
  r.logs = () => (previous + log).slice(-LOG_LIMIT);
  const append = (d: Buffer): void => {
    log = (log + d.toString()).slice(-LOG_LIMIT);
  };
  proc.stdout.on('data', append);
  proc.stderr.on('data', append);
  r.exited = new Promise((ok) => proc.once('exit', (code, signal) => {
    r.proc = undefined;
    ok(code ?? signal ?? 'unknown');
  }));
  const died = r.exited.then((how) => {
    throw new Error(`replica ${r.index} exited (${how}) before it was ready:\n${r.logs().slice(-4000)}`);
  });
  const port = r.port || Number(await Promise.race([untilLog(() => log, LISTENING), died]));
  r.port = port;
  r.url = `http://127.0.0.1:${port}`;
  await Promise.race([waitReady(r.url, r), died]);
}

async function untilLog(read: () => string, re: RegExp): Promise<string> {
  for (let waited = 0; waited < READY_TIMEOUT_MS; waited += 25) {
    const m = re.exec(read());
    if (m?.[1]) return m[1];
    await new Promise((ok) => setTimeout(ok, 25));
  }
  throw new Error(`no line matching ${re} within ${READY_TIMEOUT_MS} ms:\n${read().slice(-4000)}`);
}

/** Polls /readyz until 200 (the replica is listening and its store answers). */
export async function waitReady(url: string, r?: Replica, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
      last = `HTTP ${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (err) {
      last = String(err);
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`${url}/readyz not ready within ${timeoutMs} ms (last: ${last})${r ? `\n${r.logs().slice(-4000)}` : ''}`);
}

async function stopReplica(r: Replica, signal: 'SIGKILL' | 'SIGTERM'): Promise<number | string> {
  if (!r.proc) return r.exited;
  r.proc.kill(signal);
  return r.exited;
}

function pgTarget(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 5432) };
}
