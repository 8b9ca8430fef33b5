import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import OpenAI from 'openai';
import { parse } from 'yaml';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { readDockerfile } from './dockerfile.ts';
import { renderChart } from './helm-render.ts';

// The image as compose and Helm run it, without a container engine (`npm run test:container` builds and runs the
// real image where podman is installed): the Dockerfile's runtime stage is laid out in a directory standing for the
// container's root (its COPY instructions, node_modules of this checkout), made read-only, and its exact ENTRYPOINT
// + CMD (compose) or the Deployment's args (Helm) run with the stage's ENV plus the orchestrator's env, as the
// image's non-root uid, on PostgreSQL, with the config compose mounts / the chart's ConfigMap renders. The only
// differences from a container: absolute paths are prefixed by that directory (what a mount namespace does), the
// PG* env names this machine's test database, and the listen port is ephemeral (what a port mapping does).
const ROOT = new URL('../..', import.meta.url).pathname;
const NODE = join(ROOT, 'node_modules/.bin/node');
const runtime = readDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).stages.at(-1)!;
const [uid, gid] = (runtime.user ?? '').split(':').map(Number) as [number, number];

interface Container { root: string; at(path: string): string }

/** The runtime stage's file system: its COPYs (tests excluded, as .dockerignore does), read-only for the app user. */
function layOut(): Container {
  const root = mkdtempSync(join(tmpdir(), 'pcl-image-'));
  chmodSync(root, 0o755);
  const at = (p: string): string => join(root, p);
  for (const c of runtime.copy) {
    if (c.from) {
      mkdirSync(dirname(at(c.dest)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), at(c.dest)); // npm ci --omit=dev in the image; this checkout's install here
      continue;
    }
    for (const src of c.src) {
      const dest = c.src.length === 1 && !c.dest.endsWith('/') ? at(c.dest) : join(at(c.dest), src);
      cpSync(join(ROOT, src), dest, { recursive: true, filter: (f) => !f.endsWith('.test.ts') });
    }
  }
  for (const dir of ['app', 'etc']) chmodSync(at(dir), 0o555);
  mkdirSync(at('tmp'), { mode: 0o1777 });
  return { root, at };
}

/** Mount a file (secret, config) into the container; `owner` and `mode` as the orchestrator sets them. */
function mount(c: Container, path: string, content: string, owner: { uid: number; gid: number }, mode: number): void {
  mkdirSync(dirname(c.at(path)), { recursive: true, mode: 0o755 });
  writeFileSync(c.at(path), content);
  chownSync(c.at(path), owner.uid, owner.gid);
  chmodSync(c.at(path), mode);
}

/** A writable volume owned by the app user (compose named volume, Kubernetes emptyDir with fsGroup). */
function volume(c: Container, path: string): void {
  mkdirSync(c.at(path), { recursive: true });
  chownSync(c.at(path), uid, gid);
}

/** Absolute paths in a config point into the container's root; listen on an ephemeral loopback port. */
function inContainer(c: Container, configText: string): string {
  return configText.replace(/(?<=[\s:"])\/(run|var|etc)\//g, `${c.root}/$1/`).replace(/listen: 0\.0\.0\.0:\d+/, 'listen: 127.0.0.1:0');
}

function pgEnv(db: TestPostgres): Record<string, string> {
  const u = new URL(db.url);
  return { PGHOST: u.hostname, PGPORT: u.port || '5432', PGUSER: decodeURIComponent(u.username), PGDATABASE: u.pathname.slice(1) };
}

interface Running { url: string; exit: Promise<number | string>; logs: () => string; stop(): Promise<number | string> }

async function run(c: Container, argv: string[], env: Record<string, string>, workdir: string): Promise<Running> {
  const [command, ...args] = argv;
  assert.equal(command, 'node', 'the image runs node from PATH');
  const proc = spawn(NODE, args.map((a) => (a.startsWith('/') ? c.at(a) : a)), { cwd: c.at(workdir), uid, gid, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => void (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => void (out += d.toString()));
  const exit = new Promise<number | string>((ok) => proc.once('exit', (code, signal) => ok(code ?? signal ?? 'unknown')));
  const url = await Promise.race([
    (async () => {
      for (;;) {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m?.[1]) return m[1];
        await new Promise((ok) => setTimeout(ok, 25));
      }
    })(),
    exit.then((how) => {
      throw new Error(`the gateway exited (${how}) before listening:\n${out}`);
    }),
  ]);
  return { url, exit, logs: () => out, stop: () => (proc.kill('SIGTERM'), exit) };
}

/** The Dockerfile's HEALTHCHECK command, pointed at this gateway: its exit code. */
function healthcheck(c: Container, url: string): Promise<number | null> {
  const [command, ...args] = runtime.healthcheck!;
  assert.equal(command, 'node');
  const proc = spawn(NODE, args, { cwd: c.at(runtime.workdir ?? '/'), uid, gid, env: { PORTCULLIS_HEALTHCHECK_URL: `${url}/healthz` }, stdio: 'ignore' });
  return new Promise((ok) => proc.once('exit', (code) => ok(code)));
}

async function exercise(c: Container, gw: Running, adminKeyPath: string): Promise<void> {
  const ready = await fetch(`${gw.url}/readyz`);
  assert.equal(ready.status, 200, `/readyz: ${await ready.text()}\n${gw.logs()}`);
  const key = readFileSync(c.at(adminKeyPath), 'utf8').trim();
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello from the image layout' }] });
  assert.match(r.choices[0]?.message.content ?? '', /hello from the image layout/);
  assert.equal(await healthcheck(c, gw.url), 0, 'HEALTHCHECK passes on a live gateway');
  assert.equal(await gw.stop(), 0, `SIGTERM: clean exit\n${gw.logs()}`);
  assert.equal(await healthcheck(c, gw.url), 1, 'HEALTHCHECK fails once the gateway is gone');
  assert.deepEqual(readdirSync(c.at('/var/lib/portcullis')), ['admin.key'], 'the only file written: the bootstrap key, on the volume');
}

describe('the image layout run as compose and Helm run it', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('compose: ENTRYPOINT + CMD, ENV, mounted config, master key secret (0400, app uid), read-only app', async () => {
    const db = await startTestPostgres();
    cleanups.push(() => db.stop());
    const c = layOut();
    cleanups.push(() => rmSync(c.root, { recursive: true, force: true }));
    const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, { environment: Record<string, string>; configs: { target: string }[]; secrets: { target: string }[] }>; configs: Record<string, { file: string }> };
    const svc = compose.services['gateway-1']!;
    const configFile = join(ROOT, compose.configs.gateway_config!.file);
    chmodSync(c.at('etc'), 0o755);
    mount(c, svc.configs[0]!.target, inContainer(c, readFileSync(configFile, 'utf8')), { uid: 0, gid: 0 }, 0o444);
    chmodSync(c.at('etc'), 0o555);
    mount(c, `/run/secrets/${svc.secrets[0]!.target}`, randomBytes(32).toString('base64'), { uid, gid }, 0o400);
    volume(c, '/var/lib/portcullis');
    const env = { ...runtime.env, PORTCULLIS_CONFIG: c.at(runtime.env.PORTCULLIS_CONFIG!), ...svc.environment, ...pgEnv(db) };
    const gw = await run(c, [...runtime.entrypoint!, ...runtime.cmd!], env, runtime.workdir!);
    await exercise(c, gw, '/var/lib/portcullis/admin.key');
  });

  it('Helm: the Deployment\'s args and env, the ConfigMap config, the master key as root:fsGroup 0440', async () => {
    const db = await startTestPostgres();
    cleanups.push(() => db.stop());
    const c = layOut();
    cleanups.push(() => rmSync(c.root, { recursive: true, force: true }));
    const chart = renderChart(join(ROOT, 'deploy/helm/portcullis'), { postgres: { existingSecret: 'db' } });
    type Container = { args: string[]; env: { name: string; value?: string }[]; volumeMounts: { name: string; mountPath: string }[] };
    const pod = (chart.manifests.get('deployment.yaml') as { spec: { template: { spec: { containers: Container[]; securityContext: { runAsUser: number; fsGroup: number }; volumes: { name: string; secret?: { items: { path: string }[]; defaultMode: number } }[] } } } }).spec.template.spec;
    assert.deepEqual([pod.securityContext.runAsUser, pod.securityContext.fsGroup], [uid, gid], 'the chart runs the image\'s user');
    const ctr = pod.containers[0]!;
    const mountOf = (name: string): string => ctr.volumeMounts.find((v) => v.name === name)!.mountPath;
    const configText = (chart.manifests.get('configmap.yaml') as { data: Record<string, string> }).data['config.yaml']!;
    chmodSync(c.at('etc'), 0o755);
    mount(c, `${mountOf('config')}/config.yaml`, inContainer(c, configText), { uid: 0, gid: pod.securityContext.fsGroup }, 0o444);
    chmodSync(c.at('etc'), 0o555);
    const secret = pod.volumes.find((v) => v.name === 'master-key')!.secret!;
    mount(c, `${mountOf('master-key')}/${secret.items[0]!.path}`, randomBytes(32).toString('base64'), { uid: 0, gid: pod.securityContext.fsGroup }, secret.defaultMode);
    volume(c, mountOf('data'));
    const env = Object.fromEntries(ctr.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    const gw = await run(c, [...runtime.entrypoint!, ...ctr.args], { ...runtime.env, ...env, ...pgEnv(db) }, runtime.workdir!);
    await exercise(c, gw, `${mountOf('data')}/admin.key`);
  });
});
