import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as netConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { StoredEvent } from '../repo.ts';
import { SinkError, deadline, headOf, type Sink } from './sink.ts';

/**
 * Syslog (RFC 5424) over UDP (RFC 5426, one message per datagram), TCP with octet-counting framing (RFC 6587
 * §3.4.1: `MSG-LEN SP SYSLOG-MSG`) or TLS (RFC 5425, the same framing). The OCSF event is the MSG; the event id,
 * class and type travel in one structured-data element so a receiver can route without parsing JSON.
 * Syslog has no application-level acknowledgement: a batch counts as delivered once the kernel accepted it.
 * `timeoutMs` bounds each attempt (connect, TLS handshake and write): past it the connection is dropped and the
 * attempt fails with `timeout`, so a black-holed collector never holds the sink (and its lease) for the operating
 * system's TCP timeouts.
 */
export interface SyslogSinkOptions {
  name: string;
  transport: 'udp' | 'tcp' | 'tls';
  host: string;
  port: number;
  facility: number;
  appName: string;
  sdId: string;
  batchSize: number;
  timeoutMs: number;
  tls?: ConnectionOptions;
}

/** OCSF severity_id → syslog severity (RFC 5424 §6.2.1): Informational→6, Low→5, Medium→4, High→3, Critical→2. */
const SEVERITY: Record<number, number> = { 0: 6, 1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1 };
const HOST = hostname().replace(/[^!-~]/g, '').slice(0, 255) || '-';

/** SD-PARAM value escaping (RFC 5424 §6.3.3): `"`, `\` and `]` are backslash-escaped. */
function sdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => '\\' + c);
}

export function formatRfc5424(e: StoredEvent, o: { facility: number; appName: string; sdId: string }): string {
  const h = headOf(e);
  const pri = o.facility * 8 + (SEVERITY[h.severityId] ?? 6);
  const msgId = h.code.replace(/[^!-~]/g, '').slice(0, 32) || '-';
  const sd = `[${o.sdId} uid="${sdValue(h.uid)}" class_uid="${h.classUid}" type_uid="${h.typeUid}"]`;
  return `<${pri}>1 ${new Date(h.time).toISOString()} ${HOST} ${o.appName} ${process.pid} ${msgId} ${sd} ${e.body}`;
}

export function createSyslogSink(o: SyslogSinkOptions): Sink {
  const fmt = (e: StoredEvent): string => formatRfc5424(e, o);
  if (o.transport === 'udp') return udpSink(o, fmt);
  let sock: Socket | undefined;

  /** Connects (TCP, then the TLS handshake) unless a connection is open; `signal` aborts it (attempt deadline). */
  function connect(signal: AbortSignal): Promise<Socket> {
    if (sock && !sock.destroyed) return Promise.resolve(sock);
    return new Promise((ok, fail) => {
      const s = o.transport === 'tls'
        ? tlsConnect({ host: o.host, port: o.port, servername: o.host, ...o.tls })
        : netConnect({ host: o.host, port: o.port });
      const ready = o.transport === 'tls' ? 'secureConnect' : 'connect';
      const abort = (): void => void s.destroy(signal.reason instanceof SinkError ? signal.reason : new SinkError('timeout', 'syslog connect timed out'));
      signal.addEventListener('abort', abort, { once: true });
      s.once('error', (err) => {
        signal.removeEventListener('abort', abort);
        fail(err instanceof SinkError ? err : new SinkError('connect_failed', `syslog ${o.transport} connect failed: ${(err as NodeJS.ErrnoException).code ?? 'error'}`));
      });
      s.once(ready, () => {
        signal.removeEventListener('abort', abort);
        s.removeAllListeners('error');
        s.on('error', () => s.destroy());
        s.on('close', () => {
          if (sock === s) sock = undefined;
        });
        // The collector never talks back on this channel; drain anything it sends so the socket does not stall.
        s.resume();
        sock = s;
        ok(s);
      });
      if (signal.aborted) abort();
    });
  }

  /** Writes the frames; resolves once the kernel took every byte. On abort the connection is dropped. */
  function write(s: Socket, data: Buffer, signal: AbortSignal): Promise<void> {
    return new Promise<void>((ok, fail) => {
      const onClose = (): void => finish(new SinkError('connection_closed', 'syslog connection closed during write'));
      // A frame may be half written: the stream cannot be reused, the next attempt reconnects.
      const onAbort = (): void => {
        s.destroy();
        finish(signal.reason instanceof SinkError ? signal.reason : new SinkError('timeout', 'syslog write timed out'));
      };
      function finish(err?: SinkError): void {
        s.off('close', onClose);
        signal.removeEventListener('abort', onAbort);
        if (err) fail(err);
        else ok();
      }
      if (signal.aborted) return onAbort();
      s.once('close', onClose);
      signal.addEventListener('abort', onAbort, { once: true });
      s.write(data, (err) => {
        if (!err) return finish();
        s.destroy();
        finish(new SinkError('write_failed', 'syslog write failed'));
      });
    });
  }

  return {
    name: o.name,
    batchSize: o.batchSize,
    async send(batch, signal) {
      // One deadline for the whole attempt (connect, TLS handshake, write until the kernel has the bytes), so an
      // attempt never outlives timeout_ms and with it the delivery lease.
      const d = deadline(o.timeoutMs, signal, `syslog ${o.transport} delivery`);
      try {
        const s = await connect(d.signal);
        const frames = batch.map((e) => {
          const msg = Buffer.from(fmt(e));
          return Buffer.concat([Buffer.from(`${msg.length} `), msg]);
        });
        await write(s, Buffer.concat(frames), d.signal);
      } finally {
        d.clear();
      }
    },
    async close() {
      const s = sock;
      sock = undefined;
      if (!s || s.destroyed) return;
      // A graceful end flushes what the kernel still holds; a collector that stopped reading must not hold it.
      const t = setTimeout(() => s.destroy(), o.timeoutMs);
      await new Promise<void>((ok) => {
        s.once('close', () => ok());
        s.end();
      });
      clearTimeout(t);
    },
  };
}

function udpSink(o: SyslogSinkOptions, fmt: (e: StoredEvent) => string): Sink {
  let sock: UdpSocket | undefined;
  return {
    name: o.name,
    batchSize: o.batchSize,
    async send(batch, signal) {
      sock ??= createSocket(o.host.includes(':') ? 'udp6' : 'udp4');
      const s = sock;
      // A datagram never waits on the collector, but resolving a host name can: bound the attempt all the same.
      const d = deadline(o.timeoutMs, signal, 'syslog udp delivery');
      try {
        for (const e of batch) {
          const msg = Buffer.from(fmt(e));
          await d.race(new Promise<void>((ok, fail) => s.send(msg, o.port, o.host, (err) => (err ? fail(new SinkError('send_failed', 'syslog udp send failed')) : ok()))));
        }
      } finally {
        d.clear();
      }
    },
    async close() {
      const s = sock;
      sock = undefined;
      if (s) await new Promise<void>((ok) => s.close(() => ok()));
    },
  };
}
