import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/loader.ts';
import { configSchema } from '../../src/config/schema.ts';
import { deployedLocationBlock } from '../helpers/nginx.ts';
import { renderChart } from './helm-render.ts';
import { readDockerfile } from './dockerfile.ts';

// The deployment artifacts, checked as files: what an orchestrator would reject or run wrong (a root user, a
// writable root file system, a probe on the wrong path, a termination grace shorter than the drain, a POST retried
// by the load balancer). test/deploy/container-run.test.ts runs them; `npm run test:container` builds the image.
const ROOT = new URL('../..', import.meta.url).pathname;
const read = (p: string): string => readFileSync(ROOT + p, 'utf8');
const CHART = ROOT + 'deploy/helm/portcullis';
// The drain grace the gateway waits for in-flight exchanges on SIGTERM (its default in the config schema).
const serverProps = configSchema.properties.server.properties as Record<string, { default?: unknown } | undefined>;
const DRAIN_GRACE_S = Number(serverProps.shutdown_grace_ms?.default ?? 2000) / 1000;

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  assert.ok(v && typeof v === 'object' && !Array.isArray(v), `${what} is a mapping`);
  return v as Obj;
};
const at = (v: unknown, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Obj | undefined)?.[k], v);

describe('Dockerfile', () => {
  const df = readDockerfile(read('Dockerfile'));

  it('is multi-stage: dependencies installed without dev dependencies in a build stage, the runtime copies them', () => {
    assert.ok(df.stages.length >= 2, 'at least a build and a runtime stage');
    const deps = df.stages.find((s) => s.run.some((r) => /\bnpm ci\b/.test(r)));
    assert.ok(deps?.name, 'a named stage runs npm ci');
    assert.ok(deps.run.some((r) => /npm ci\b.*--omit=dev/.test(r)), 'npm ci --omit=dev');
    const runtime = df.stages.at(-1)!;
    assert.notEqual(runtime, deps);
    assert.ok(runtime.copy.some((c) => c.from === deps.name && c.src.some((src) => src.endsWith('/node_modules'))), 'the runtime stage copies node_modules from the build stage');
    assert.deepEqual(runtime.run, [], 'the runtime stage runs nothing at build time (no package manager, no shell needed)');
    assert.match(runtime.from, /node/i);
  });

  it('runs as a numeric non-root user, with a node health check on /healthz and the gateway as entrypoint', () => {
    const runtime = df.stages.at(-1)!;
    assert.match(runtime.user ?? '', /^[1-9]\d*(:\d+)?$/, 'numeric, non-zero uid (Kubernetes runAsNonRoot can check it)');
    assert.ok(runtime.healthcheck, 'HEALTHCHECK');
    assert.equal(runtime.healthcheck[0], 'node', 'the health check needs no curl in the image');
    assert.match(runtime.healthcheck.join(' '), /\/healthz/);
    assert.deepEqual(runtime.entrypoint, ['node', '/app/bin/portcullis.js']);
    assert.deepEqual(runtime.cmd, ['serve']);
    assert.equal(runtime.env.PORTCULLIS_CONFIG, '/etc/portcullis/config.yaml');
    assert.ok(runtime.copy.some((c) => c.dest === '/etc/portcullis/config.yaml'), 'a default config at PORTCULLIS_CONFIG');
  });

  it('.dockerignore lets in what the image copies and keeps out node_modules, tests and secrets', () => {
    const rules = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.equal(rules[0], '*', 'deny by default: a new file (a key, a .env, a database) is not sent to the builder');
    for (const c of df.stages.flatMap((s) => s.copy).filter((c) => !c.from)) {
      for (const src of c.src) assert.ok(rules.some((r) => r.startsWith('!') && (src === r.slice(1) || (r.endsWith('/') && `${src}/`.startsWith(r.slice(1))))), `${src} is allowed into the build context`);
    }
    assert.ok(rules.includes('**/*.test.ts'), 'tests stay out of the image');
    assert.ok(!rules.includes('!node_modules/'), 'node_modules is installed in the image, never copied from the host');
  });
});

describe('compose.yaml', () => {
  const compose = obj(parse(read('compose.yaml'), { merge: true }), 'compose.yaml');
  const services = obj(compose.services, 'services');
  const gateways = Object.entries(services).filter(([name]) => name.startsWith('gateway-'));

  it('three gateway replicas on one PostgreSQL behind nginx, each read-only, non-root, with the master key as a secret', () => {
    assert.equal(gateways.length, 3);
    const hostnames = new Set<unknown>();
    for (const [name, raw] of gateways) {
      const s = obj(raw, name);
      assert.equal(s.read_only, true, `${name}: read-only root file system`);
      assert.match(String(s.user), /^\$\{PORTCULLIS_UID:-1000\}:/, `${name}: the image's non-root uid`);
      assert.deepEqual(s.tmpfs, ['/tmp']);
      assert.deepEqual(s.secrets, [{ source: 'master_key', target: 'portcullis-master-key' }]);
      assert.deepEqual(s.configs, [{ source: 'gateway_config', target: '/etc/portcullis/config.yaml' }]);
      assert.equal(at(s, 'environment.PGHOST'), 'postgres');
      assert.deepEqual(at(s, 'depends_on.postgres'), { condition: 'service_healthy' });
      assert.ok(Array.isArray(s.volumes) && s.volumes.some((v) => String(v).endsWith(':/var/lib/portcullis')), `${name}: a writable volume for the bootstrap key and event spill`);
      const grace = Number(/^(\d+)s$/.exec(String(s.stop_grace_period))?.[1]);
      assert.ok(grace > DRAIN_GRACE_S, `${name}: stop_grace_period ${grace}s exceeds the drain grace ${DRAIN_GRACE_S}s`);
      hostnames.add(s.hostname);
    }
    assert.equal(hostnames.size, 3, 'each replica has its own stable host name');
    for (const [name, raw] of gateways.slice(1)) assert.deepEqual(at(raw, 'depends_on.gateway-1'), { condition: 'service_healthy' }, `${name} waits for gateway-1 (migrations, bootstrap key)`);
    assert.ok(at(services, 'postgres.healthcheck'), 'postgres has a health check the replicas wait for');
    assert.equal(at(compose, 'secrets.master_key.file'), './secrets/master.key');
  });

  it('nginx mounts deploy/nginx/portcullis.conf, whose upstreams are the compose replicas on the config port', () => {
    const lb = obj(services.lb, 'lb');
    assert.match(String(lb.image), /^nginx:1\.(2[89]|[3-9]\d)/, 'open-source nginx >= 1.27.3 supports `resolve` in upstreams');
    assert.ok((lb.volumes as string[]).includes('./deploy/nginx/portcullis.conf:/etc/nginx/conf.d/default.conf:ro'));
    const conf = read('deploy/nginx/portcullis.conf');
    const listen = parseConfig(read('deploy/config/compose.yaml'), 'compose.yaml').server.listen;
    const port = listen.slice(listen.lastIndexOf(':') + 1);
    for (const [name] of gateways) assert.match(conf, new RegExp(`server ${name}:${port} resolve`), `${name} is an upstream`);
  });

  it('the nginx location streams, waits long and never re-sends a POST that reached a replica', () => {
    const block = deployedLocationBlock().replace(/#.*$/gm, '');
    assert.match(block, /proxy_buffering off;/);
    assert.match(block, /proxy_http_version 1\.1;/);
    assert.match(block, /proxy_read_timeout 3600s;/);
    const next = /proxy_next_upstream ([^;]+);/.exec(block)?.[1] ?? '';
    assert.deepEqual(next.split(/\s+/).sort(), ['error', 'timeout']);
    assert.doesNotMatch(block, /non_idempotent/, 'a POST is retried only when it never reached a replica');
  });

  it('the compose gateway config is valid and keeps every write on the mounted volume', () => {
    const c = parseConfig(read('deploy/config/compose.yaml'), 'deploy/config/compose.yaml');
    assert.match(c.store.url, /^postgres:\/\//);
    assert.equal(c.master_key, 'file:/run/secrets/portcullis-master-key');
    assert.ok(c.auth.bootstrap_admin_key_file?.startsWith('/var/lib/portcullis/'));
    assert.ok(c.events.spill_path.startsWith('/var/lib/portcullis/'));
    assert.equal(c.server.trust_proxy, true, 'behind nginx');
  });
});

describe('Helm chart', () => {
  const chart = renderChart(CHART, { postgres: { existingSecret: 'db-credentials' } });
  const m = (file: string): Obj => obj(chart.manifests.get(file), file);

  it('renders a Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler and ConfigMap that agree', () => {
    assert.deepEqual([...chart.manifests.keys()].sort(), ['configmap.yaml', 'deployment.yaml', 'hpa.yaml', 'pdb.yaml', 'service.yaml']);
    const dep = m('deployment.yaml');
    assert.equal(dep.kind, 'Deployment');
    const selector = at(dep, 'spec.selector.matchLabels');
    assert.deepEqual(at(dep, 'spec.template.metadata.labels'), selector);
    assert.deepEqual(at(m('service.yaml'), 'spec.selector'), selector);
    assert.deepEqual(at(m('pdb.yaml'), 'spec.selector.matchLabels'), selector);
    assert.equal(at(m('pdb.yaml'), 'kind'), 'PodDisruptionBudget');
    assert.deepEqual(at(m('hpa.yaml'), 'spec.scaleTargetRef'), { apiVersion: 'apps/v1', kind: 'Deployment', name: at(dep, 'metadata.name') });
    assert.equal(at(dep, 'spec.replicas'), undefined, 'with the autoscaler on, the HPA owns the replica count');
    assert.equal(at(renderChart(CHART, { postgres: { existingSecret: 'x' }, autoscaling: { enabled: false } }).manifests.get('deployment.yaml'), 'spec.replicas'), 3);
  });

  it('the pod: non-root, read-only root, probes on /healthz and /readyz, preStop, grace longer than preStop + drain', () => {
    const spec = obj(at(m('deployment.yaml'), 'spec.template.spec'), 'pod spec');
    const c = obj((spec.containers as unknown[])[0], 'container');
    assert.equal(at(spec, 'securityContext.runAsNonRoot'), true);
    assert.equal(at(c, 'securityContext.readOnlyRootFilesystem'), true);
    assert.equal(at(c, 'securityContext.allowPrivilegeEscalation'), false);
    assert.equal(at(c, 'livenessProbe.httpGet.path'), '/healthz');
    assert.equal(at(c, 'readinessProbe.httpGet.path'), '/readyz');
    const preStop = Number(at(c, 'lifecycle.preStop.sleep.seconds'));
    assert.ok(preStop > 0, 'the endpoint is removed before SIGTERM');
    assert.ok(Number(spec.terminationGracePeriodSeconds) > preStop + DRAIN_GRACE_S, `grace ${String(spec.terminationGracePeriodSeconds)}s > preStop ${preStop}s + drain ${DRAIN_GRACE_S}s`);
    assert.deepEqual(at(c, 'env.4'), { name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'db-credentials', key: 'password' } } });
    const vols = spec.volumes as Obj[];
    assert.equal(at(vols.find((v) => v.name === 'master-key'), 'secret.defaultMode'), 0o440, 'root:fsGroup 0440, the mode the gateway accepts for a root-owned key');
    assert.equal(at(spec, 'securityContext.fsGroup'), at(spec, 'securityContext.runAsGroup'));
  });

  it('the ConfigMap holds a valid config whose files are where the pod mounts them', () => {
    const text = String(obj(m('configmap.yaml').data, 'data')['config.yaml']);
    const c = parseConfig(text, 'configmap config.yaml');
    const mounts = (obj((at(m('deployment.yaml'), 'spec.template.spec.containers') as unknown[])[0], 'c').volumeMounts as Obj[]).map((v) => String(v.mountPath));
    const under = (path: string): boolean => mounts.some((mp) => path.startsWith(mp + '/'));
    assert.ok(under(c.master_key.replace(/^file:/, '')), 'master key on the secret mount');
    assert.ok(under(c.auth.bootstrap_admin_key_file ?? ''), 'bootstrap key on a writable volume');
    assert.ok(under(c.events.spill_path), 'event spill on a writable volume');
    const port = Number(c.server.listen.slice(c.server.listen.lastIndexOf(':') + 1));
    assert.deepEqual(at(m('deployment.yaml'), 'spec.template.spec.containers.0.ports'), [{ name: 'http', containerPort: port }]);
  });

  it('a database password Secret is rendered only when asked for, and never without a password', () => {
    assert.throws(() => renderChart(CHART), /postgres\.password or postgres\.existingSecret is required/);
    const own = renderChart(CHART, { postgres: { password: 's3cret-db' } });
    assert.equal(at(own.manifests.get('secret.yaml'), 'stringData.password'), 's3cret-db');
    assert.equal(at(own.manifests.get('deployment.yaml'), 'spec.template.spec.containers.0.env.4.valueFrom.secretKeyRef.name'), 'rel-portcullis-db');
    assert.doesNotMatch(own.text.get('configmap.yaml') ?? '', /s3cret-db/, 'the password never lands in the ConfigMap');
  });
});
