import { Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import type { CheckpointerOptions } from './checkpointer.ts';
import type { SqliteCore, SqliteOptions } from './core.ts';
import { finishRow, startRow } from './rows.ts';
import type { CallMessage, Reply } from './worker.ts';
import type { ApiKeyRepo, CredentialRepo, ExchangeRepo, ReplicaRepo, Store, TokenVaultRepo } from '../ports.ts';
import { sqliteReplicaRepo } from './replicas.ts';

type CoreMethod = {
  [K in keyof SqliteCore]: SqliteCore[K] extends (...args: infer A) => infer R ? (...args: A) => R : never;
};
type MethodName = { [K in keyof SqliteCore]: SqliteCore[K] extends (...args: never[]) => unknown ? K : never }[keyof SqliteCore];

/** Thread names (as `ps -L` and /proc show them, at most 15 characters): the benchmark splits CPU by them. */
export const STORE_THREAD = 'pcl-store';
export const CHECKPOINT_THREAD = 'pcl-checkpoint';

export class StoreError extends Error {
  override readonly name = 'StoreError';
}

/**
 * Main-thread side of the SQLite store: every call is posted to the store worker, which commits each message in
 * one transaction; calls made together share a message, and calls made while one is applied wait for the next
 * (group commit: see #schedule).
 */
export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly appliesCallsMadeTogetherInOrder = true;
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #outbox: CallMessage['calls'] = [];
  /** A post is scheduled for the end of this turn. */
  #postSoon = false;
  /** Calls posted and not yet answered. While there are any, new calls gather in the outbox (group commit). */
  #unanswered = 0;
  #closed = false;
  /** Who waits for every call to be answered (close). */
  #whenIdle: (() => void)[] = [];

  /** The WAL checkpointer thread (checkpointer.ts); none for an in-memory database. */
  readonly #checkpointer: Worker | undefined;

  private constructor(worker: Worker, checkpointer: Worker | undefined) {
    this.#worker = worker;
    this.#checkpointer = checkpointer;
    worker.on('message', (msg: { replies?: Reply[] }) => {
      if (!msg.replies) return;
      for (const [id, ok, value] of msg.replies) {
        const p = this.#pending.get(id);
        if (!p) continue;
        this.#pending.delete(id);
        if (ok) p.resolve(value);
        else p.reject(new StoreError(String(value)));
      }
      this.#unanswered -= msg.replies.length;
      if (this.#unanswered === 0 && this.#outbox.length > 0) this.#schedule();
      if (this.#pending.size === 0) for (const idle of this.#whenIdle.splice(0)) idle();
    });
    worker.on('error', (err: Error) => this.#failAll(err));
    worker.on('exit', () => this.#failAll(new StoreError('store worker exited')));
  }

  static async open(opts: SqliteOptions): Promise<SqliteStore> {
    const path = opts.path === ':memory:' ? opts.path : resolve(opts.path);
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { name: STORE_THREAD, workerData: { ...opts, path } });
    await new Promise<void>((ok, fail) => {
      worker.once('message', (m: { ready: boolean; error?: string }) => (m.ready ? ok() : fail(new StoreError(m.error ?? 'store failed to open'))));
      worker.once('error', fail);
    });
    return new SqliteStore(worker, path === ':memory:' ? undefined : startCheckpointer(path));
  }

  call<M extends MethodName>(method: M, ...args: Parameters<CoreMethod[M]>): Promise<Awaited<ReturnType<CoreMethod[M]>>> {
    if (this.#closed) return Promise.reject(new StoreError('store is closed'));
    const id = this.#nextId++;
    const p = new Promise<Awaited<ReturnType<CoreMethod[M]>>>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.#outbox.push([id, method, args]);
    this.#schedule();
    return p;
  }

  /**
   * Calls an extension method registered in extensions.ts (`module.method`). Modules wrap this in a typed repo
   * (see e.g. src/store/sqlite/<module>.ts) so callers never see untyped calls.
   */
  callExt<T>(method: `${string}.${string}`, ...args: unknown[]): Promise<T> {
    return this.call(method as MethodName, ...(args as never)) as Promise<T>;
  }

  /**
   * Group commit, as PostgreSQL's commit_delay but without a fixed delay: calls made together (synchronously, as
   * an exchange's start and its audit entry) travel in one message and commit in one transaction; while the worker
   * is still applying a message, further calls gather and go out together when it answers. Idle, a call goes out
   * at the end of the event-loop turn (calls made by other exchanges' callbacks in that turn join it; posting at
   * the first microtask instead measured ~10 % more worker time for ~0.02 ms less to first byte); under load, one
   * commit covers every exchange that arrived during the previous one.
   */
  #schedule(): void {
    if (this.#unanswered > 0 || this.#postSoon) return;
    this.#postSoon = true;
    setImmediate(() => this.#post());
  }

  #post(): void {
    this.#postSoon = false;
    if (this.#outbox.length === 0 || this.#unanswered > 0) return;
    const calls = this.#outbox;
    this.#outbox = [];
    this.#unanswered += calls.length;
    this.#worker.postMessage({ calls } satisfies CallMessage);
  }

  #failAll(err: Error): void {
    this.#closed = true;
    for (const p of this.#pending.values()) p.reject(err instanceof StoreError ? err : new StoreError(err.message));
    this.#pending.clear();
    for (const idle of this.#whenIdle.splice(0)) idle();
  }

  readonly apiKeys: ApiKeyRepo = {
    create: (r) => this.call('apiKeysCreate', r),
    get: (id) => this.call('apiKeysGet', id),
    list: () => this.call('apiKeysList'),
    revoke: (id, at) => this.call('apiKeysRevoke', id, at),
    count: () => this.call('apiKeysCount'),
  };

  readonly exchanges: ExchangeRepo = {
    start: (r) => this.call('exchangesStart', startRow(r)),
    appendSegment: (id, seq, sealed) => this.call('exchangesAppendSegment', id, seq, sealed),
    finish: (f) => this.call('exchangesFinish', finishRow(f)),
    recordRejected: (s, f) => this.call('exchangesRecordRejected', startRow(s), finishRow(f)),
    get: (id) => this.call('exchangesGet', id),
    bodies: (id) => this.call('exchangesBodies', id).then(fixBodies),
    messages: (scope, refs) => this.call('exchangesMessages', scope, refs).then((ms) => ms.map((m) => ({ ref: m.ref, sealed: asBuffer(m.sealed) }))),
    list: (f) => this.call('exchangesList', f),
    interrupt: (f) => this.call('exchangesInterrupt', finishRow(f)),
  };

  readonly replicas: ReplicaRepo = sqliteReplicaRepo(this);

  readonly credentials: CredentialRepo = {
    put: (p, sealed, at, by) => this.call('credentialsPut', p, sealed, at, by),
    get: (p) => this.call('credentialsGet', p).then((r) => (r ? { ...r, sealed: asBuffer(r.sealed) } : undefined)),
    list: () => this.call('credentialsList'),
  };

  readonly tokenVault: TokenVaultRepo = {
    get: (c, now) => this.call('tokenVaultGet', c, now).then((rows) => rows.map((r) => ({ ...r, sealed: asBuffer(r.sealed) }))),
    // A conflict rolls the whole put back (savepoint) and surfaces as an error naming no values.
    put: (c, rows, expiresAt, refreshBelow = expiresAt) =>
      this.call('tokenVaultPut', c, rows, expiresAt, refreshBelow).catch((err: unknown) => {
        if (err instanceof StoreError && err.message.startsWith('token vault conflict')) return rows.map((r) => r.placeholder);
        throw err;
      }),
    purgeExpired: (now) => this.call('tokenVaultPurgeExpired', now),
  };

  async ping(): Promise<void> {
    await this.call('ping');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let queued calls reach the worker and complete before terminating it.
    if (this.#outbox.length) this.#schedule();
    if (this.#pending.size > 0) await new Promise<void>((idle) => this.#whenIdle.push(idle));
    this.#closed = true;
    await this.#checkpointer?.terminate();
    await this.#worker.terminate();
  }
}

/**
 * Starts the WAL checkpointer (checkpointer.ts) once the store worker has created the database. It holds no state:
 * if it fails, the writer's own automatic checkpoint (WRITER_CHECKPOINT_PAGES) keeps the log bounded, so its
 * errors are not fatal, and it never keeps the process alive.
 */
function startCheckpointer(path: string): Worker {
  const w = new Worker(new URL('./checkpointer.ts', import.meta.url), { name: CHECKPOINT_THREAD, workerData: { path, idleMs: 250, busyMs: 100 } satisfies CheckpointerOptions });
  w.on('error', () => undefined);
  w.unref();
  return w;
}

/** Structured clone turns Buffers into plain Uint8Arrays. */
function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function fixBodies<T extends { clientRequest: Uint8Array | null; upstreamRequest: Uint8Array | null; response: Uint8Array | null; segments: { seq: number; sealed: Uint8Array }[] } | undefined>(b: T): T {
  if (!b) return b;
  return {
    ...b,
    clientRequest: b.clientRequest && asBuffer(b.clientRequest),
    upstreamRequest: b.upstreamRequest && asBuffer(b.upstreamRequest),
    response: b.response && asBuffer(b.response),
    segments: b.segments.map((s) => ({ seq: s.seq, sealed: asBuffer(s.sealed) })),
  };
}
