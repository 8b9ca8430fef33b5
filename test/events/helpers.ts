import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket as NetSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { systemClock } from '../../src/core/clock.ts';
import { createLogger } from '../../src/core/logger.ts';
import type { EventsConfig } from '../../src/events/config-schema.ts';
import { createEventMapper } from '../../src/events/ocsf.ts';
import { createEventPipeline, type EventPipeline } from '../../src/events/pipeline.ts';
import type { OutboxRepo } from '../../src/events/repo.ts';
import type { Sink } from '../../src/events/sinks/sink.ts';
import type { SecurityEvent } from '../../src/events/types.ts';

export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'pcl-events-'));

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real HTTP collector on 127.0.0.1:0 that can refuse (503, or `refuseWith`) the next N batches or stay down. */
export interface Collector {
  url: string;
  port: number;
  received: Received[];
  failNext: number;
  down: boolean;
  /** Status of a refusal (default 503). */
  refuseWith: number;
  close(): Promise<void>;
}

export async function startCollector(port = 0): Promise<Collector> {
  const c = { received: [] as Received[], failNext: 0, down: false, refuseWith: 503 } as Collector;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      if (c.down || c.failNext > 0) {
        if (c.failNext > 0) c.failNext--;
        res.writeHead(c.refuseWith).end('{"text":"refused","echo":"collector-secret-echo"}');
        return;
      }
      c.received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  c.port = (server.address() as AddressInfo).port;
  c.url = `http://127.0.0.1:${c.port}`;
  c.close = () => new Promise((ok) => {
    server.closeAllConnections();
    server.close(() => ok());
  });
  return c;
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((ok) => s.close(ok));
  return port;
}

/**
 * A TCP server that accepts connections and then never reads, writes or closes them: a TLS handshake or an HTTP
 * request to it never completes, and a writer fills the socket buffers and stalls.
 */
export async function startSilentServer(): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<NetSocket>();
  let seen = 0;
  const server = createNetServer({ pauseOnConnect: true }, (s) => {
    seen++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => seen,
    close: () => new Promise((ok) => {
      for (const s of sockets) s.destroy();
      server.close(() => ok());
    }),
  };
}

/**
 * A collector that cannot be reached: a TCP port whose accept queue is full (a stopped process listening with
 * backlog 1, two connections already queued), so a further connect gets no SYN-ACK and waits for the operating
 * system's timeout (about two minutes on Linux), like a firewalled or black-holed collector.
 */
export async function startUnreachable(): Promise<{ port: number; close(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', `const s = require('node:net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(s.address().port));`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(chunk.toString('utf8').trim());
  child.kill('SIGSTOP');
  const fillers: NetSocket[] = [];
  const filled = async (): Promise<boolean> => new Promise((ok) => {
    const s = netConnect(port, '127.0.0.1');
    fillers.push(s);
    s.on('error', () => undefined);
    const t = setTimeout(() => ok(false), 300);
    s.once('connect', () => (clearTimeout(t), ok(true)));
  });
  // Queue connections until one gets no answer: the queue is then full and the kernel drops further SYNs.
  for (let i = 0; i < 8 && (await filled()); i++);
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    },
  };
}

export function testConfig(over: Partial<Omit<EventsConfig, 'sinks'>> & { spill_path: string }): Omit<EventsConfig, 'sinks'> {
  return {
    max_backlog: 100_000, on_full: 'spill', lease_ms: 5_000, poll_interval_ms: 50, prune_interval_ms: 200, forget_sink_after_ms: 3_600_000,
    retry: { initial_ms: 20, max_ms: 200 }, health: { max_lag_events: 1_000, max_lag_ms: 60_000 }, ...over,
  };
}

export const HASH_KEY = Buffer.alloc(32, 7);
export const mapper = createEventMapper({ hashKey: HASH_KEY, productVersion: 'test' });
export const quietLogger = createLogger('silent');

export function pipelineOf(o: { outbox: OutboxRepo; sinks: Sink[]; config: Omit<EventsConfig, 'sinks'>; owner?: string; registry?: Registry }): EventPipeline {
  return createEventPipeline({ ...o, mapper, clock: systemClock, logger: quietLogger });
}

export function adminEvent(i: number, over: Partial<SecurityEvent> = {}): SecurityEvent {
  return { id: `evt_test_${String(i).padStart(6, '0')}`, type: 'admin.action', at: 1_700_000_000_000 + i, actor: { subject: 'user:admin' }, operation: 'keys.create', ...over } as SecurityEvent;
}

export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Event ids in the order received from generic-JSON batches. */
export function idsOf(received: readonly Received[]): string[] {
  return received.flatMap((r) => (JSON.parse(r.body) as { metadata: { uid: string } }[]).map((e) => e.metadata.uid));
}
