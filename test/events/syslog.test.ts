import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createSyslogSink } from '../../src/events/sinks/syslog.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteOutboxRepo } from '../../src/store/sqlite/outbox.ts';
import { adminEvent, pipelineOf, tempDir, testConfig, waitFor } from './helpers.ts';
import { RFC5424, makeCert, startSyslogReceiver } from './syslog-helpers.ts';

type Json = { metadata: { uid: string }; class_uid: number };

describe('syslog sink (RFC 5424) against receivers written for the test', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function pipelineTo(sink: ReturnType<typeof createSyslogSink>) {
    const dir = tempDir();
    const store = await SqliteStore.open({ path: join(dir, 'p.db'), synchronous: 'normal' });
    cleanups.push(() => store.close());
    const p = pipelineOf({ outbox: sqliteOutboxRepo(store), sinks: [sink], config: testConfig({ spill_path: join(dir, 's.jsonl') }) });
    cleanups.push(() => p.close());
    await p.start();
    return p;
  }

  function checkMessage(m: string, i: number): void {
    const r = RFC5424.exec(m);
    assert.ok(r, `RFC 5424 structure: ${m.slice(0, 120)}`);
    assert.equal(Number(r[1]), 13 * 8 + 5, 'facility 13 (log audit), severity 5 (notice) for a Low event');
    assert.equal(r[4], 'portcullis');
    assert.equal(r[6], 'admin.action');
    const uid = `evt_test_${String(i).padStart(6, '0')}`;
    assert.equal(r[7], `[portcullis@32473 uid="${uid}" class_uid="6003" type_uid="600301"]`);
    const ev = JSON.parse(r[8]!) as Json;
    assert.equal(ev.metadata.uid, uid);
  }

  it('TCP with octet counting: every frame parses as RFC 5424, in order', async () => {
    const rx = await startSyslogReceiver();
    cleanups.push(() => rx.close());
    const p = await pipelineTo(createSyslogSink({ name: 'tcp', transport: 'tcp', host: '127.0.0.1', port: rx.port, facility: 13, appName: 'portcullis', sdId: 'portcullis@32473', batchSize: 7, timeoutMs: 2000 }));
    for (let i = 0; i < 30; i++) await p.emit(adminEvent(i));
    await waitFor(() => rx.messages.length === 30, 10_000, '30 syslog frames');
    rx.messages.forEach((m, i) => checkMessage(m, i));
  });

  it('TLS (RFC 5425) with a pinned CA; attack: a server with a certificate from another CA gets nothing', async () => {
    const dir = tempDir();
    const good = makeCert(dir, 'localhost');
    const rogue = makeCert(dir, 'rogue');
    const rx = await startSyslogReceiver(good);
    cleanups.push(() => rx.close());
    const evil = await startSyslogReceiver(rogue);
    cleanups.push(() => evil.close());
    const p = await pipelineTo(createSyslogSink({ name: 'tls', transport: 'tls', host: '127.0.0.1', port: rx.port, facility: 13, appName: 'portcullis', sdId: 'portcullis@32473', batchSize: 5, timeoutMs: 2000, tls: { ca: good.cert, servername: 'localhost' } }));
    const pe = await pipelineTo(createSyslogSink({ name: 'tls-evil', transport: 'tls', host: '127.0.0.1', port: evil.port, facility: 13, appName: 'portcullis', sdId: 'portcullis@32473', batchSize: 5, timeoutMs: 2000, tls: { ca: good.cert, servername: 'localhost' } }));
    for (let i = 0; i < 12; i++) {
      await p.emit(adminEvent(i));
      await pe.emit(adminEvent(i));
    }
    await waitFor(() => rx.messages.length === 12, 10_000, '12 TLS frames');
    rx.messages.forEach((m, i) => checkMessage(m, i));
    await waitFor(async () => (await pe.health()).sinks[0]?.last_error !== null, 5_000, 'TLS failure recorded');
    assert.equal(evil.messages.length, 0, 'nothing sent to a server the CA did not sign');
    assert.equal((await pe.health()).sinks[0]?.backlog, 12, 'events stay in the outbox');
  });

  it('UDP: one message per datagram', async () => {
    const sock = createSocket('udp4');
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString('utf8')));
    sock.bind(0, '127.0.0.1');
    await once(sock, 'listening');
    cleanups.push(() => new Promise<void>((ok) => sock.close(() => ok())));
    const p = await pipelineTo(createSyslogSink({ name: 'udp', transport: 'udp', host: '127.0.0.1', port: sock.address().port, facility: 13, appName: 'portcullis', sdId: 'portcullis@32473', batchSize: 10, timeoutMs: 2000 }));
    for (let i = 0; i < 5; i++) await p.emit(adminEvent(i));
    await waitFor(() => got.length === 5, 10_000, '5 datagrams');
    got.forEach((m, i) => checkMessage(m, i));
  });
});
