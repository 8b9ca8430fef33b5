import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { Keyring } from '../../src/crypto/keyring.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteAuditRepo } from '../../src/store/sqlite/audit.ts';
import { sqliteOutboxRepo } from '../../src/store/sqlite/outbox.ts';
import type { AuditRepo } from '../../src/audit/repo.ts';
import type { OutboxRepo } from '../../src/events/repo.ts';
import { sealBody, sealSegment } from '../../src/audit/recording.ts';
import type { ExchangeFinish, ExchangeStart } from '../../src/store/ports.ts';
import { AuditLog } from '../../src/audit/log.ts';
import { createAuditObserver } from '../../src/audit/observer.ts';
import { GatewayError } from '../../src/core/errors.ts';
import { Router, type Route } from '../../src/http/route.ts';

export interface Fixture {
  dir: string;
  dbPath: string;
  master: Buffer;
  store: SqliteStore;
  keyring: Keyring;
  repo: AuditRepo;
  outbox: OutboxRepo;
  reopen(): Promise<void>;
  /** A separate connection for tampering (the attacker with file access). */
  tamper(sql: string, ...args: (string | number | null | Uint8Array)[]): void;
  close(): Promise<void>;
}

/** Fixtures still open; `closeOpenFixtures` (an `afterEach` hook) closes them so a failed assertion cannot leave a worker thread keeping the test process alive. */
const open = new Set<Fixture>();

export async function closeOpenFixtures(): Promise<void> {
  for (const f of open) await f.close();
}

export async function fixture(master = randomBytes(32)): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-evidence-'));
  const dbPath = join(dir, 'p.db');
  const f: Fixture = {
    dir, dbPath, master, keyring: new Keyring(master),
    store: await SqliteStore.open({ path: dbPath, synchronous: 'normal' }),
    repo: undefined as unknown as AuditRepo,
    outbox: undefined as unknown as OutboxRepo,
    async reopen() {
      await f.store.close();
      f.store = await SqliteStore.open({ path: dbPath, synchronous: 'normal' });
      f.repo = sqliteAuditRepo(f.store);
      f.outbox = sqliteOutboxRepo(f.store);
    },
    tamper(sql, ...args) {
      const db = new DatabaseSync(dbPath);
      try { db.prepare(sql).run(...args); } finally { db.close(); }
    },
    async close() {
      if (!open.delete(f)) return;
      await f.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  f.repo = sqliteAuditRepo(f.store);
  f.outbox = sqliteOutboxRepo(f.store);
  open.add(f);
  return f;
}

export const fixedClock = (start = Date.parse('2025-01-01T00:00:00Z')): { now(): number; mono(): number; advance(ms: number): void } => {
  let t = start;
  return { now: () => t, mono: () => t, advance: (ms: number) => void (t += ms) };
};

/** Records an exchange the way the recorder does: start row with sealed bodies, stream segments, finish. */
export async function recordExchange(f: Fixture, o: { id: string; at: number; subject?: string; body?: unknown; events?: [number, string | null, string][]; userAgent?: string }): Promise<{ start: ExchangeStart; finish: ExchangeFinish }> {
  const client = Buffer.from(JSON.stringify(o.body ?? { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] }));
  const start: ExchangeStart = {
    id: o.id, startedAt: o.at, subject: o.subject ?? 'alice', principal: { kind: 'user', name: o.subject ?? 'alice', groups: ['eng'], credentialId: 'key_1' },
    endpoint: 'chat.completions', method: 'POST', path: '/v1/chat/completions', model: 'gpt-4o', provider: 'mock', upstreamModel: null,
    stream: Boolean(o.events), clientIp: '127.0.0.1', userAgent: o.userAgent ?? 'OpenAI/JS 6.0', decision: { effect: 'allow', reasons: ['default_allow'] }, findings: [],
    clientRequest: sealBody(f.keyring, o.id, 'client_request', client), upstreamRequest: null,
  };
  await f.store.exchanges.start(start);
  if (o.events) await f.store.exchanges.appendSegment(o.id, 0, sealSegment(f.keyring, o.id, 0, o.events));
  const finish: ExchangeFinish = {
    id: o.id, finishedAt: o.at + 50, status: 'completed', httpStatus: 200, errorCode: null,
    timings: { upstreamFirstByteMs: 5, clientFirstByteMs: 6, totalMs: 50 }, usage: { inputTokens: 3, outputTokens: 7, totalTokens: 10 },
    response: o.events ? null : sealBody(f.keyring, o.id, 'response', Buffer.from('{"choices":[]}')), eventCount: o.events?.length ?? 0, responseFindings: [], forwarded: true,
  };
  await f.store.exchanges.finish(finish);
  return { start, finish };
}

export const WRITER = 'gw-a';

/** A trail of `n` exchanges (odd ones streamed) + one admin action, sealed by a checkpoint: 2n+1 entries. */
export async function seeded(n = 6): Promise<{ f: Fixture; log: AuditLog; clock: ReturnType<typeof fixedClock> }> {
  const f = await fixture();
  const clock = fixedClock();
  const log = await AuditLog.open({ repo: f.repo, keyring: f.keyring, clock, writerId: WRITER, checkpointIntervalMs: 0, checkpointEveryEntries: 1_000_000 });
  const obs = createAuditObserver({ log, repo: f.repo, keyring: f.keyring, sessionGapMs: 1_800_000 });
  for (let i = 0; i < n; i++) {
    clock.advance(1000);
    const { start, finish } = await recordExchange(f, { id: `ex_${i}`, at: clock.now(), events: i % 2 ? [[1, null, '{"a":1}'], [20, null, '[DONE]']] : undefined });
    await obs.onStart!(start);
    await obs.onFinish!(start, finish);
  }
  await log.append({ kind: 'admin.action', subject: 'root', payload: { action: 'keys.create', target: 'key_9' } });
  await log.checkpoint();
  return { f, log, clock };
}

/** Admin routes on a real loopback socket, errors answered as the admin API does (`{error: {code, message}}`). */
export async function serveRoutes(routes: readonly Route[]): Promise<{ server: Server; url: string }> {
  const router = new Router().add(...routes);
  const server = createServer((req, res) => {
    const m = router.match(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!);
    if (!m || m === 'method') return void res.writeHead(404).end();
    m.route.handler(req, res, m.params).catch((err: unknown) => {
      const e = err instanceof GatewayError ? err : new GatewayError('internal', 'internal');
      res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: e.code, message: e.publicMessage } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
