import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/loader.ts';
import { systemClock } from '../../src/core/clock.ts';
import { checkEventsConfig, openEventPipeline } from '../../src/events/index.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteOutboxRepo } from '../../src/store/sqlite/outbox.ts';
import { HASH_KEY, adminEvent, quietLogger, startCollector, tempDir, waitFor, type Collector } from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const HEC_TOKEN = 'hec-token-3b1f7e0c-5a4d-4e2b-9f61-0d8c2a7e4b19';

describe('sinks built from the events config section', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function start(eventsYaml: string, env: NodeJS.ProcessEnv = {}) {
    const dir = tempDir();
    const config = parseConfig(`
providers: [{ name: m, type: mock }]
routes: [{ model: "*", provider: m }]
events:
${eventsYaml}`, join(dir, 'portcullis.yaml'));
    const store = await SqliteStore.open({ path: join(dir, 'p.db'), synchronous: 'normal' });
    cleanups.push(() => store.close());
    const p = await openEventPipeline({ outbox: sqliteOutboxRepo(store), config: config.events, baseDir: dir, env, clock: systemClock, logger: quietLogger, hashKey: HASH_KEY, productVersion: '9.9.9' });
    cleanups.push(() => p.close());
    await p.start();
    return { dir, p, config };
  }

  async function collector(): Promise<Collector> {
    const c = await startCollector();
    cleanups.push(() => c.close());
    return c;
  }

  it('fills documented defaults', async () => {
    const { config } = await start(`  sinks: [{ name: f, type: file, path: ev.jsonl }]`);
    assert.equal(config.events.on_full, 'spill');
    assert.equal(config.events.max_backlog, 1_000_000);
    assert.equal(config.events.sinks[0]?.batch_size, 100);
    assert.equal((config.events.sinks[0] as { keep?: number }).keep, 10);
  });

  it('refuses a sink whose timeout_ms is not below lease_ms, naming the key and line (config load and pipeline)', async () => {
    const dir = tempDir();
    const yaml = `
providers: [{ name: m, type: mock }]
routes: [{ model: "*", provider: m }]
events:
  lease_ms: 10000
  sinks:
    - { name: ok, type: file, path: a.jsonl, timeout_ms: 9999 }
    - { name: slow, type: syslog, host: 127.0.0.1, port: 514, timeout_ms: 10000 }
    - { name: default-timeout, type: http, url: "http://127.0.0.1:9/" }`;
    const expectIssues = (err: unknown): true => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.deepEqual(err.issues.map((i) => i.path), ['events.sinks[1].timeout_ms', 'events.sinks[2].timeout_ms'], 'the default timeout_ms (10000) is not below 10000 either');
      assert.match(err.message, /events\.sinks\[1\]\.timeout_ms.*must be below events\.lease_ms/);
      return true;
    };
    assert.throws(() => parseConfig(yaml, join(dir, 'portcullis.yaml')), expectIssues);
    // A pipeline opened from a config that skipped the loader's check refuses too.
    const config = parseConfig(yaml.replace('lease_ms: 10000', 'lease_ms: 20000'), join(dir, 'portcullis.yaml'));
    const store = await SqliteStore.open({ path: join(dir, 'p.db'), synchronous: 'normal' });
    cleanups.push(() => store.close());
    await assert.rejects(
      openEventPipeline({ outbox: sqliteOutboxRepo(store), config: { ...config.events, lease_ms: 10_000 }, baseDir: dir, env: {}, clock: systemClock, logger: quietLogger, hashKey: HASH_KEY, productVersion: '9.9.9' }),
      expectIssues,
    );
    assert.deepEqual(checkEventsConfig({ lease_ms: 30_000, sinks: config.events.sinks }), [], 'the defaults pass');
  });

  it('Splunk HEC: /services/collector/event, Authorization: Splunk <token>, stacked event objects', async () => {
    const col = await collector();
    const { p } = await start(`  poll_interval_ms: 50
  sinks:
    - { name: splunk, type: splunk_hec, url: "${col.url}", token: "env:HEC", index: security, batch_size: 4 }`, { HEC: HEC_TOKEN });
    for (let i = 0; i < 6; i++) await p.emit(adminEvent(i));
    await waitFor(() => col.received.reduce((n, r) => n + r.body.split('\n').length, 0) === 6, 10_000, '6 HEC events');
    for (const r of col.received) {
      assert.equal(r.path, '/services/collector/event');
      assert.equal(r.headers.authorization, `Splunk ${HEC_TOKEN}`);
    }
    const events = col.received.flatMap((r) => r.body.split('\n').map((l) => JSON.parse(l) as Json));
    assert.deepEqual(events.map((e) => String(e.event.metadata.uid)), Array.from({ length: 6 }, (_, i) => `evt_test_${String(i).padStart(6, '0')}`));
    assert.equal(events[0]!.index, 'security');
    assert.equal(events[0]!.sourcetype, 'ocsf:portcullis');
    assert.equal(events[0]!.time, 1_700_000_000);
  });

  it('OTLP/HTTP JSON: /v1/logs with resourceLogs/scopeLogs/logRecords', async () => {
    const col = await collector();
    const { p } = await start(`  poll_interval_ms: 50
  sinks: [{ name: otel, type: otlp, url: "${col.url}/", auth_header: { name: x-api-key, value: "\${OTEL_KEY}" } }]`, { OTEL_KEY: 'otel-secret' });
    for (let i = 0; i < 3; i++) await p.emit(adminEvent(i, { type: 'credential.changed', provider: 'openai', change: 'set' } as never));
    await waitFor(() => col.received.length > 0 && col.received.flatMap((r) => (JSON.parse(r.body) as Json).resourceLogs[0].scopeLogs[0].logRecords as unknown[]).length === 3, 10_000, 'OTLP records');
    const r = col.received[0]!;
    assert.equal(r.path, '/v1/logs');
    assert.equal(r.headers['x-api-key'], 'otel-secret');
    const rl = (JSON.parse(r.body) as Json).resourceLogs[0];
    assert.deepEqual(rl.resource.attributes[0], { key: 'service.name', value: { stringValue: 'portcullis' } });
    assert.equal(rl.scopeLogs[0].scope.name, 'portcullis.events');
    const rec = rl.scopeLogs[0].logRecords[0];
    assert.equal(rec.timeUnixNano, '1700000000000000000');
    assert.equal(rec.severityNumber, 13, 'credential change is Medium → WARN');
    assert.equal((JSON.parse(rec.body.stringValue as string) as Json).class_uid, 3004);
    assert.deepEqual(rec.attributes[0], { key: 'event.id', value: { stringValue: 'evt_test_000000' } });
  });

  it('JSON lines file rotates by size and keeps N files', async () => {
    const { dir, p } = await start(`  poll_interval_ms: 50
  sinks: [{ name: f, type: file, path: logs/ev.jsonl, max_bytes: 2048, keep: 2, batch_size: 2 }]`);
    for (let i = 0; i < 40; i++) await p.emit(adminEvent(i));
    await waitFor(async () => (await p.health()).sinks[0]?.backlog === 0, 10_000, 'file sink caught up');
    const files = readdirSync(join(dir, 'logs')).sort();
    assert.deepEqual(files, ['ev.jsonl', 'ev.jsonl.1', 'ev.jsonl.2']);
    const lines = files.flatMap((f) => readFileSync(join(dir, 'logs', f), 'utf8').trim().split('\n'));
    for (const l of lines) assert.equal(typeof (JSON.parse(l) as Json).metadata.uid, 'string');
    for (const f of files) assert.ok(readFileSync(join(dir, 'logs', f)).length <= 2048 + 600, `${f} near max_bytes`);
    const current = readFileSync(join(dir, 'logs', 'ev.jsonl'), 'utf8').trim().split('\n');
    assert.equal((JSON.parse(current.at(-1)!) as Json).metadata.uid, 'evt_test_000039', 'newest events in the live file');
  });
});
