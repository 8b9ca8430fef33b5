import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSyslogSink } from '../../src/events/sinks/syslog.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteOutboxRepo } from '../../src/store/sqlite/outbox.ts';
import { adminEvent, freePort, pipelineOf, tempDir, testConfig, waitFor } from './helpers.ts';
import { makeCert } from './syslog-helpers.ts';

/**
 * A real syslog daemon (rsyslog from Debian, see APT_PACKAGES) receiving over TCP (octet counting) and TLS
 * (GnuTLS driver). If rsyslogd is missing this suite fails — it is never skipped.
 */
const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p)) ?? 'rsyslogd';

function portOpen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), ok(true)));
    s.once('error', () => ok(false));
  });
}

describe('syslog sink against a real rsyslog (TCP + TLS)', () => {
  const dir = tempDir();
  const out = join(dir, 'received.log');
  let tcpPort = 0;
  let tlsPort = 0;
  let daemon: ChildProcess | undefined;
  let cert: ReturnType<typeof makeCert>;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    cert = makeCert(dir, 'localhost');
    tcpPort = await freePort();
    tlsPort = await freePort();
    const conf = join(dir, 'rsyslog.conf');
    writeFileSync(conf, `
global(workDirectory="${dir}" maxMessageSize="64k"
  DefaultNetstreamDriverCAFile="${cert.certFile}" DefaultNetstreamDriverCertFile="${cert.certFile}" DefaultNetstreamDriverKeyFile="${cert.keyFile}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="${tlsPort}" address="127.0.0.1" name="tls")
module(load="imptcp")
input(type="imptcp" port="${tcpPort}" address="127.0.0.1" name="tcp" SupportOctetCountedFraming="on")
template(name="line" type="string" string="%inputname% %msgid% %app-name% %syslogfacility% %syslogseverity% %structured-data% %msg%\\n")
*.* action(type="omfile" file="${out}" template="line")
`);
    daemon = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    daemon.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<never>((_, fail) => {
      daemon?.once('error', (err) => fail(new Error(`rsyslogd could not start (install test/events/APT_PACKAGES): ${err.message}`)));
      daemon?.once('exit', (code) => fail(new Error(`rsyslogd exited with ${code}: ${stderr}`)));
    });
    failed.catch(() => undefined);
    await Promise.race([failed, waitFor(async () => (await portOpen(tcpPort)) && (await portOpen(tlsPort)), 15_000, 'rsyslogd listening')]);
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    daemon?.kill('SIGTERM');
  });

  async function deliver(transport: 'tcp' | 'tls', port: number, count: number): Promise<string[]> {
    const store = await SqliteStore.open({ path: join(dir, `${transport}.db`), synchronous: 'normal' });
    cleanups.push(() => store.close());
    const sink = createSyslogSink({
      name: transport, transport, host: '127.0.0.1', port, facility: 13, appName: 'portcullis', sdId: 'portcullis@32473', batchSize: 8, timeoutMs: 3000,
      tls: transport === 'tls' ? { ca: cert.cert, servername: 'localhost' } : undefined,
    });
    const p = pipelineOf({ outbox: sqliteOutboxRepo(store), sinks: [sink], config: testConfig({ spill_path: join(dir, `${transport}.spill`) }) });
    cleanups.push(() => p.close());
    await p.start();
    for (let i = 0; i < count; i++) await p.emit(adminEvent(i, { id: `evt_${transport}_${i}` }));
    const mine = (): string[] => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter((l) => l.startsWith(transport + ' ')) : []);
    await waitFor(() => mine().length >= count, 15_000, `${count} messages via ${transport} in rsyslog's output`);
    return mine();
  }

  for (const transport of ['tcp', 'tls'] as const) {
    it(`rsyslog parses every ${transport} message as RFC 5424: msgid, app, facility, severity, structured data, JSON body`, async () => {
      const lines = await deliver(transport, transport === 'tcp' ? tcpPort : tlsPort, 20);
      assert.equal(lines.length, 20, 'no duplicates, none missing');
      lines.forEach((line, i) => {
        const [, msgid, app, facility, severity] = line.split(' ');
        assert.equal(msgid, 'admin.action');
        assert.equal(app, 'portcullis');
        assert.equal(facility, '13');
        assert.equal(severity, '5');
        assert.ok(line.includes(`[portcullis@32473 uid="evt_${transport}_${i}" class_uid="6003" type_uid="600301"]`), line);
        const json = line.slice(line.indexOf('{'));
        assert.equal((JSON.parse(json) as { metadata: { uid: string } }).metadata.uid, `evt_${transport}_${i}`);
      });
    });
  }
});
