import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.ts';
import type { StoredEvent } from '../../src/events/repo.ts';
import { createFileSink } from '../../src/events/sinks/file.ts';
import { createHttpSink } from '../../src/events/sinks/http.ts';
import type { Sink } from '../../src/events/sinks/sink.ts';
import { createSyslogSink, type SyslogSinkOptions } from '../../src/events/sinks/syslog.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteOutboxRepo } from '../../src/store/sqlite/outbox.ts';
import { adminEvent, pipelineOf, startSilentServer, startUnreachable, tempDir, testConfig, waitFor } from './helpers.ts';
import { makeCert } from './syslog-helpers.ts';

/**
 * `timeout_ms` bounds every delivery attempt, whatever the sink: a collector that never answers must fail the
 * attempt with last_error `timeout` (and be retried with backoff) well within `lease_ms`, instead of holding the
 * sink — and its lease — for the operating system's TCP timeouts (about two minutes) or for ever.
 */
const TIMEOUT_MS = 300;

const syslogOptions = (over: Partial<SyslogSinkOptions> & Pick<SyslogSinkOptions, 'name' | 'port'>): SyslogSinkOptions => ({
  transport: 'tcp', host: '127.0.0.1', facility: 13, appName: 'portcullis', sdId: 'portcullis@32473', batchSize: 10, timeoutMs: TIMEOUT_MS, ...over,
});

/** A batch of large events (~1 MiB each): more than loopback socket buffers hold when the receiver never reads. */
function bigBatch(n: number): StoredEvent[] {
  const pad = 'x'.repeat(1024 * 1024);
  return Array.from({ length: n }, (_, i) => ({
    id: `evt_big_${i}`, type: 'admin.action', at: 1_700_000_000_000 + i, pos: i + 1,
    body: JSON.stringify({ severity_id: 2, class_uid: 6003, type_uid: 600301, metadata: { uid: `evt_big_${i}` }, pad }),
  }));
}

/** Rejects with `what timed out` after `ms`: a send that hangs fails the test instead of hanging it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, fail) => (t = setTimeout(() => fail(new Error(`${what}: still pending after ${ms} ms`)), ms)));
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

describe('timeout_ms bounds each delivery attempt', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function pipelineTo(sink: Sink) {
    const dir = tempDir();
    const store = await SqliteStore.open({ path: join(dir, 'p.db'), synchronous: 'normal' });
    cleanups.push(() => store.close());
    const p = pipelineOf({ outbox: sqliteOutboxRepo(store), sinks: [sink], config: testConfig({ spill_path: join(dir, 's.jsonl'), lease_ms: 5_000 }) });
    cleanups.push(() => p.close());
    await p.start();
    return p;
  }

  /** Emits events, then expects repeated `timeout` failures (retried with backoff) and every event kept. */
  async function expectTimeouts(sink: Sink): Promise<void> {
    const p = await pipelineTo(sink);
    for (let i = 0; i < 3; i++) await p.emit(adminEvent(i));
    // Bounds far below the operating system's (a SYN is retried for about two minutes; a stalled write waits for
    // ever), and loose enough for a loaded CI machine: the test is about *whether* the attempt ends, not its speed.
    await waitFor(async () => (await p.health()).sinks[0]?.last_error === 'timeout', 15_000, 'last_error timeout');
    const first = (await p.health()).sinks[0]!.last_error_at;
    await waitFor(async () => (await p.health()).sinks[0]!.last_error_at !== first, 15_000, 'a retry that timed out again');
    const h = await p.health();
    assert.equal(h.sinks[0]?.last_error, 'timeout');
    assert.equal(h.sinks[0]?.backlog, 3, 'nothing is lost: the batch stays in the outbox');
    assert.equal(h.sinks[0]?.last_delivered_at, null);
  }

  it('syslog TCP: a connect to an unreachable collector (no SYN-ACK) times out', async () => {
    const u = await startUnreachable();
    cleanups.push(() => u.close());
    await expectTimeouts(createSyslogSink(syslogOptions({ name: 'tcp-unreachable', port: u.port })));
  });

  it('syslog TLS: a collector that accepts TCP but never answers the handshake times out', async () => {
    const srv = await startSilentServer();
    cleanups.push(() => srv.close());
    const cert = makeCert(tempDir(), 'localhost');
    await expectTimeouts(createSyslogSink(syslogOptions({ name: 'tls-silent', transport: 'tls', port: srv.port, tls: { ca: cert.cert, servername: 'localhost' } })));
  });

  it('syslog TCP: a write to a collector that stops reading times out, and the next attempt reconnects', async () => {
    const srv = await startSilentServer();
    cleanups.push(() => srv.close());
    const sink = createSyslogSink(syslogOptions({ name: 'tcp-stalled', port: srv.port, batchSize: 40 }));
    cleanups.push(() => sink.close());
    const ac = new AbortController();
    const batch = bigBatch(40);
    // Without timeout_ms a write to a peer that stopped reading never ends; `within` turns a hang into a failure.
    await within(assert.rejects(sink.send(batch, ac.signal), (err: Error & { code?: string }) => err.code === 'timeout'), 15_000, 'stalled write');
    await within(assert.rejects(sink.send(batch, ac.signal), (err: Error & { code?: string }) => err.code === 'timeout'), 15_000, 'second stalled write');
    assert.equal(srv.connections(), 2, 'a timed-out connection is dropped (its last frame may be cut), never reused');
    await within(sink.close(), 2_000, 'close after a stall');
  });

  it('HTTP: a collector that never answers fails the attempt with `timeout` (not request_failed)', async () => {
    const srv = await startSilentServer();
    cleanups.push(() => srv.close());
    const sink = createHttpSink({ name: 'http-silent', format: 'http', url: `http://127.0.0.1:${srv.port}/ingest`, batchSize: 10, timeoutMs: TIMEOUT_MS, headers: {}, sourcetype: 's', source: 's', productVersion: 'test' }, 'host');
    await expectTimeouts(sink);
  });

  it('file: a path that blocks (a FIFO nobody reads) times out, and never runs two writes at once', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'events.fifo');
    execFileSync('mkfifo', [fifo]);
    const sink = createFileSink({ name: 'fifo', path: fifo, batchSize: 10, maxBytes: 1 << 20, rotateIntervalMs: 0, keep: 1, fsync: false, clock: systemClock, timeoutMs: TIMEOUT_MS });
    const ac = new AbortController();
    const batch = bigBatch(1).map((e) => ({ ...e, body: '{"small":true}' }));
    await within(assert.rejects(sink.send(batch, ac.signal), (err: Error & { code?: string }) => err.code === 'timeout'), 5_000, 'blocked open');
    // The first open is still blocked in the thread pool: a retry must not start a second one.
    await within(assert.rejects(sink.send(batch, ac.signal), (err: Error & { code?: string }) => err.code === 'timeout'), 5_000, 'retry while blocked');
    // A reader appears: the pending open completes, and the next attempt writes the batch once.
    const reader = await open(fifo, 'r');
    const chunks: Buffer[] = [];
    const reading = (async () => {
      for await (const c of reader.createReadStream()) chunks.push(c as Buffer);
    })();
    await within(sink.send(batch, ac.signal), 5_000, 'write once the reader is there');
    await sink.close();
    await within(reading, 5_000, 'reader sees end of file');
    assert.equal(Buffer.concat(chunks).toString('utf8'), '{"small":true}\n');
  });
});
