import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { GatewayError } from '../../src/core/errors.ts';
import { createHttpSink } from '../../src/events/sinks/http.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteOutboxRepo } from '../../src/store/sqlite/outbox.ts';
import { adminEvent, freePort, idsOf, pipelineOf, startCollector, tempDir, testConfig, waitFor } from './helpers.ts';

const sink = (url: string, name = 'siem', batchSize = 10) =>
  createHttpSink({ name, format: 'http', url, batchSize, timeoutMs: 2_000, headers: { authorization: 'Bearer collector-token' }, sourcetype: 's', source: 's', productVersion: 'test' }, 'host');

describe('events delivery (SQLite outbox, real HTTP collector)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function openStore(dir: string): Promise<SqliteStore> {
    const store = await SqliteStore.open({ path: join(dir, 'p.db'), synchronous: 'normal' });
    cleanups.push(() => store.close());
    return store;
  }

  /** Collector (down or failing as asked) + SQLite store + started pipeline, all closed after the suite. */
  async function setup(o: { down?: boolean; failNext?: number; config?: Partial<Parameters<typeof testConfig>[0]>; registry?: Registry } = {}) {
    const dir = tempDir();
    const col = await startCollector();
    cleanups.push(() => col.close());
    col.down = o.down ?? false;
    col.failNext = o.failNext ?? 0;
    const store = await openStore(dir);
    const spill = join(dir, 'spill.jsonl');
    const p = pipelineOf({ outbox: sqliteOutboxRepo(store), sinks: [sink(col.url)], config: testConfig({ spill_path: spill, ...o.config }), registry: o.registry });
    cleanups.push(() => p.close());
    await p.start();
    return { dir, col, p, spill };
  }

  it('retries failed batches with backoff: every event arrives, in order, ids unique, auth header sent', async () => {
    const { col, p } = await setup({ failNext: 4 });
    for (let i = 0; i < 60; i++) await p.emit(adminEvent(i));
    await waitFor(() => new Set(idsOf(col.received)).size === 60, 15_000, '60 events');
    const ids = idsOf(col.received);
    const unique = [...new Set(ids)];
    assert.deepEqual(unique, Array.from({ length: 60 }, (_, i) => `evt_test_${String(i).padStart(6, '0')}`), 'all events, in emit order');
    assert.equal(col.failNext, 0, 'the collector refused the first batches');
    assert.ok(col.received.every((r) => r.headers.authorization === 'Bearer collector-token'));
    const h = await p.health();
    assert.equal(h.sinks[0]?.last_error, 'http_503');
    await p.close();
  });

  it('a sink that is down keeps the backlog across a restart and receives it when back', async () => {
    const dir = tempDir();
    const port = await freePort();
    let store = await openStore(dir);
    const cfg = testConfig({ spill_path: join(dir, 'spill.jsonl') });
    const p1 = pipelineOf({ outbox: sqliteOutboxRepo(store), sinks: [sink(`http://127.0.0.1:${port}`)], config: cfg });
    await p1.start();
    for (let i = 0; i < 25; i++) await p1.emit(adminEvent(i));
    await waitFor(async () => (await p1.health()).sinks[0]?.last_error === 'request_failed', 5_000, 'a failed attempt');
    const h = await p1.health();
    assert.equal(h.sinks[0]?.backlog, 25);
    await p1.close();
    await store.close();

    const col = await startCollector(port);
    cleanups.push(() => col.close());
    store = await openStore(dir);
    const p2 = pipelineOf({ outbox: sqliteOutboxRepo(store), sinks: [sink(col.url)], config: cfg });
    cleanups.push(() => p2.close());
    await p2.start();
    await waitFor(() => new Set(idsOf(col.received)).size === 25, 10_000, 'backlog after restart');
    assert.equal(idsOf(col.received).length, 25, 'no duplicates when the collector was never reached');
    await waitFor(async () => (await p2.health()).sinks[0]?.backlog === 0, 5_000, 'backlog drained');
    await p2.close();
  });

  it('health reports a sink that falls behind', async () => {
    const { col, p } = await setup({ down: true, config: { health: { max_lag_events: 5, max_lag_ms: 60_000 } } });
    for (let i = 0; i < 6; i++) await p.emit(adminEvent(i));
    const h = await p.health();
    assert.equal(h.ok, false);
    assert.equal(h.sinks[0]?.behind, true);
    col.down = false;
    await waitFor(async () => (await p.health()).ok, 10_000, 'healthy again');
    await p.close();
  });

  it('a collector refusing with a 4xx a retry cannot fix (401, 400, 413): sink failing, counted, nothing dropped', async () => {
    const registry = new Registry();
    const { col, p } = await setup({ down: true, registry });
    col.refuseWith = 401;
    for (let i = 0; i < 4; i++) await p.emit(adminEvent(i, { at: Date.now() }));
    await waitFor(async () => (await p.health()).sinks[0]?.failing === true, 5_000, 'sink failing');
    let h = await p.health();
    assert.equal(h.ok, false, 'a permanently failing sink makes the pipeline unhealthy at once');
    assert.equal(h.sinks[0]?.behind, false, 'although it is not behind the lag thresholds yet');
    assert.equal(h.sinks[0]?.last_error, 'http_401');
    assert.equal(h.sinks[0]?.backlog, 4, 'the refused batch stays in the outbox');
    assert.ok(!JSON.stringify(h).includes('collector-secret-echo'), 'the answer body is never reported');
    const metric = async (name: string, labels: Record<string, string>): Promise<number> =>
      (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
    assert.ok((await metric('portcullis_events_permanent_failures_total', { sink: 'siem', code: 'http_401' })) >= 1);
    assert.equal(await metric('portcullis_events_sink_failing', { sink: 'siem' }), 1);

    col.refuseWith = 413;
    await waitFor(async () => (await p.health()).sinks[0]?.last_error === 'http_413', 5_000, 'http_413');
    assert.equal((await p.health()).sinks[0]?.failing, true);

    // 429, 408 and 425 are transient: retried as usual, not reported as failing.
    col.refuseWith = 429;
    await waitFor(async () => (await p.health()).sinks[0]?.last_error === 'http_429', 5_000, 'http_429');
    h = await p.health();
    assert.equal(h.sinks[0]?.failing, false);
    assert.equal(h.ok, true, 'transient refusals count against health only through the lag thresholds');
    assert.equal(await metric('portcullis_events_sink_failing', { sink: 'siem' }), 0);

    // The collector is fixed (token accepted again): the same events arrive, in order, and the sink recovers.
    col.refuseWith = 403;
    await waitFor(async () => (await p.health()).sinks[0]?.failing === true, 5_000, 'failing again on 403');
    col.down = false;
    await waitFor(() => idsOf(col.received).length === 4, 10_000, 'the refused events after the fix');
    assert.deepEqual(idsOf(col.received), Array.from({ length: 4 }, (_, i) => `evt_test_${String(i).padStart(6, '0')}`));
    await waitFor(async () => (await p.health()).ok, 5_000, 'healthy again');
    assert.equal((await p.health()).sinks[0]?.failing, false);
    assert.equal(await metric('portcullis_events_sink_failing', { sink: 'siem' }), 0);
    await p.close();
  });

  it('outbox full, fail_closed: emit and new exchanges are refused, nothing accepted is lost', async () => {
    const { col, p, spill } = await setup({ down: true, config: { max_backlog: 10, on_full: 'fail_closed' } });
    for (let i = 0; i < 10; i++) await p.emit(adminEvent(i));
    await assert.rejects(p.emit(adminEvent(10)), (err: unknown) => err instanceof GatewayError && err.code === 'recording_failed' && err.details?.reason === 'events_outbox_full');
    await assert.rejects(p.exchangeObserver.onStart!({} as never), (err: unknown) => err instanceof GatewayError && err.code === 'recording_failed');
    assert.equal(existsSync(spill), false, 'fail_closed does not spill');
    col.down = false;
    await waitFor(() => idsOf(col.received).length === 10, 10_000, 'accepted events');
    await waitFor(async () => {
      await p.emit(adminEvent(11)).catch(() => undefined);
      return idsOf(col.received).includes('evt_test_000011');
    }, 10_000, 'room again after pruning');
    await p.close();
  });

  it('outbox full, spill: events beyond the limit go to the spill file and are delivered later', async () => {
    const { col, p, spill } = await setup({ down: true, config: { max_backlog: 10, on_full: 'spill' } });
    for (let i = 0; i < 25; i++) await p.emit(adminEvent(i));
    assert.equal(readFileSync(spill, 'utf8').trim().split('\n').length, 15, '15 events spilled');
    assert.equal((await p.health()).spill_pending, 15);
    col.down = false;
    await waitFor(() => new Set(idsOf(col.received)).size === 25, 15_000, 'all 25 events');
    await waitFor(() => !existsSync(spill), 5_000, 'spill file drained');
    await p.close();
  });
});
