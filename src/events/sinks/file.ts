import { open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Clock } from '../../core/clock.ts';
import type { StoredEvent } from '../repo.ts';
import { SinkError, deadline, type Sink } from './sink.ts';

/**
 * JSON lines (one OCSF event per line) appended to a file that rotates by size and age: `events.jsonl` →
 * `events.jsonl.1` → … → `events.jsonl.<keep>` (the oldest is deleted). A batch is one write, fsynced before it
 * counts as delivered, so a crash can repeat a batch but never lose one.
 *
 * File operations cannot be cancelled, and they can block for ever: a FIFO nobody reads, a hung network mount.
 * An attempt that outlives `timeoutMs` fails with `timeout` while its operation keeps running; the next attempt
 * first waits for that operation (never two writes at once) and skips the events it wrote, if it succeeded.
 */
export interface FileSinkOptions {
  name: string;
  path: string;
  batchSize: number;
  maxBytes: number;
  rotateIntervalMs: number;
  keep: number;
  fsync: boolean;
  clock: Clock;
  /** Bound of one attempt (open, rotate, write, fsync). */
  timeoutMs: number;
}

export function createFileSink(o: FileSinkOptions): Sink {
  let fh: FileHandle | undefined;
  let size = 0;
  let openedAt = 0;

  async function ensureOpen(): Promise<FileHandle> {
    if (fh) return fh;
    await mkdir(dirname(o.path), { recursive: true });
    fh = await open(o.path, 'a', 0o600);
    const st = await fh.stat();
    size = st.size;
    openedAt = size === 0 ? o.clock.now() : Math.min(st.birthtimeMs || st.mtimeMs, o.clock.now());
    return fh;
  }

  async function rotate(): Promise<void> {
    await fh?.close();
    fh = undefined;
    for (let i = o.keep; i >= 1; i--) {
      const from = i === 1 ? o.path : `${o.path}.${i - 1}`;
      const exists = await stat(from).then(() => true, () => false);
      if (exists) await rename(from, `${o.path}.${i}`);
    }
    // Files beyond `keep` (e.g. after `keep` was lowered) go too.
    const base = basename(o.path);
    for (const f of await readdir(dirname(o.path))) {
      const n = f.startsWith(base + '.') ? Number(f.slice(base.length + 1)) : NaN;
      if (Number.isInteger(n) && n > o.keep) await rm(join(dirname(o.path), f), { force: true });
    }
  }

  /** The events up to this outbox position are in the file (written, not necessarily acknowledged). */
  let writtenUpTo = 0;
  /** A write that outlived its attempt's deadline and is still running. */
  let inflight: Promise<void> | undefined;

  async function write(batch: readonly StoredEvent[]): Promise<void> {
    try {
      const data = Buffer.from(batch.map((e) => e.body + '\n').join(''));
      let h = await ensureOpen();
      const aged = o.rotateIntervalMs > 0 && size > 0 && o.clock.now() - openedAt >= o.rotateIntervalMs;
      if (size > 0 && (size + data.length > o.maxBytes || aged)) {
        await rotate();
        h = await ensureOpen();
      }
      await h.write(data);
      if (o.fsync) await h.datasync();
      size += data.length;
      writtenUpTo = batch[batch.length - 1]!.pos;
    } catch (err) {
      await fh?.close().catch(() => undefined);
      fh = undefined;
      throw new SinkError('file_write_failed', `cannot write ${o.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }

  return {
    name: o.name,
    batchSize: o.batchSize,
    async send(batch: readonly StoredEvent[], signal: AbortSignal): Promise<void> {
      const d = deadline(o.timeoutMs, signal, `file ${o.path}`);
      try {
        // Only its outcome for the file matters (writtenUpTo); its error, if any, was the earlier attempt's.
        if (inflight) await d.race(inflight.catch(() => undefined));
        // The outbox hands the same batch again after a failed attempt; what a late write put in the file stays.
        const rest = batch.filter((e) => e.pos > writtenUpTo);
        if (rest.length === 0) return;
        const op = write(rest);
        inflight = op;
        void op.catch(() => undefined).finally(() => {
          if (inflight === op) inflight = undefined;
        });
        await d.race(op);
      } finally {
        d.clear();
      }
    },
    async close(): Promise<void> {
      if (inflight) {
        const d = deadline(o.timeoutMs, new AbortController().signal, `file ${o.path}`);
        await d.race(inflight.catch(() => undefined)).catch(() => undefined).finally(() => d.clear());
      }
      await fh?.close();
      fh = undefined;
    },
  };
}
