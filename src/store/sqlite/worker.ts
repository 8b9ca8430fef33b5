import { parentPort, workerData } from 'node:worker_threads';
import { SqliteCore, type SqliteOptions } from './core.ts';
import { SQLITE_EXTENSIONS } from './extensions.ts';

/**
 * Store worker: owns the SQLite connection. The calls of the messages that arrived during one event-loop turn run
 * in ONE transaction (group commit: the main side also gathers calls while a message is applied), so many
 * exchanges' writes share one commit and recording does not serialize the hot path.
 * One failing call does not undo the others (see flush: replayed with a SAVEPOINT per call).
 */
export interface CallMessage {
  calls: [id: number, method: string, args: unknown[]][];
}
export type Reply = [id: number, ok: boolean, value: unknown];

const port = parentPort;
if (!port) throw new Error('worker.ts must run as a worker thread');

let core: SqliteCore;
try {
  core = new SqliteCore(workerData as SqliteOptions);
  for (const ext of SQLITE_EXTENSIONS) Object.assign(core.ext, ext(core));
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ ready: false, error: String(err) });
  throw err;
}

let queue: CallMessage['calls'] = [];
let scheduled = false;

port.on('message', (msg: CallMessage) => {
  for (const c of msg.calls) queue.push(c);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});

function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  // Optimistic: the batch runs as one transaction without per-call savepoints. If a call throws, the whole
  // transaction is rolled back and the batch replayed with a savepoint per call, so only that call fails. Safe
  // because calls only touch the database (no state in the worker), so a replay applies each exactly once.
  port!.postMessage({ replies: apply(batch, false) ?? apply(batch, true)! });
}

/** Runs the batch in one transaction; without `isolate`, returns undefined (all undone) when a call throws. */
function apply(batch: CallMessage['calls'], isolate: boolean): Reply[] | undefined {
  const replies: Reply[] = [];
  const db = core.db;
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (err) {
    // The write lock stayed taken past busy_timeout (another process writing, e.g. a long CLI purge): this batch
    // fails, closed, and the store stays up for the next one.
    const reason = `store busy: ${err instanceof Error ? err.message : String(err)}`;
    return batch.map(([id]) => [id, false, reason]);
  }
  const savepoint = core.stmt('SAVEPOINT c');
  const release = core.stmt('RELEASE c');
  const rollbackTo = core.stmt('ROLLBACK TO c');
  for (const [id, method, args] of batch) {
    if (isolate) savepoint.run();
    try {
      const fn = method.includes('.')
        ? (core.ext[method] as ((...a: unknown[]) => unknown) | undefined)
        : (core as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
      if (typeof fn !== 'function') throw new Error(`unknown store method ${method}`);
      replies.push([id, true, method.includes('.') ? fn(...args) : fn.apply(core, args)]);
      if (isolate) release.run();
    } catch (err) {
      if (!isolate) {
        db.exec('ROLLBACK');
        return undefined;
      }
      rollbackTo.run();
      release.run();
      replies.push([id, false, err instanceof Error ? err.message : String(err)]);
    }
  }
  try {
    db.exec('COMMIT');
  } catch (err) {
    // The commit itself failed (disk full, I/O error): every call of the batch failed.
    try { db.exec('ROLLBACK'); } catch { /* already rolled back */ }
    const reason = `commit failed: ${err instanceof Error ? err.message : String(err)}`;
    for (const r of replies) { r[1] = false; r[2] = reason; }
  }
  return replies;
}
