import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';

/** A self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI (test/events/APT_PACKAGES). */
export function makeCert(dir: string, cn = 'localhost'): { cert: string; key: string; certFile: string; keyFile: string } {
  const certFile = join(dir, `${cn}.crt`);
  const keyFile = join(dir, `${cn}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=DNS:${cn},IP:127.0.0.1`, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/** Splits an RFC 6587 octet-counted stream (`LEN SP MSG`) into messages; keeps a partial frame for the next chunk. */
export function octetFramer(onMessage: (msg: string) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const sp = buf.indexOf(0x20);
      if (sp <= 0) return;
      const len = Number(buf.subarray(0, sp).toString('ascii'));
      if (!Number.isInteger(len) || len <= 0) throw new Error(`bad frame length ${buf.subarray(0, sp).toString('ascii')}`);
      if (buf.length < sp + 1 + len) return;
      onMessage(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
      buf = buf.subarray(sp + 1 + len);
    }
  };
}

export interface SyslogReceiver {
  port: number;
  messages: string[];
  close(): Promise<void>;
}

/** A syslog receiver written for the test: TCP or TLS, octet-counting framing. */
export async function startSyslogReceiver(tls?: { cert: string; key: string }): Promise<SyslogReceiver> {
  const messages: string[] = [];
  const sockets = new Set<Socket>();
  const onConn = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', octetFramer((m) => messages.push(m)));
    s.on('error', () => s.destroy());
  };
  const server: Server = tls ? createTlsServer({ cert: tls.cert, key: tls.key }, onConn) : createNetServer(onConn);
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    close: () => new Promise((ok) => {
      for (const s of sockets) s.destroy();
      server.close(() => ok());
    }),
  };
}

/** RFC 5424 §6: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG`. */
export const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) (-|(?:\[[^\]]*\])+) (.*)$/s;
