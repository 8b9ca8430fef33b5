import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutboxEvent } from './repo.ts';

/**
 * The local spill file of the `on_full: spill` policy (and the fallback when the store refuses an enqueue):
 * events that could not enter the outbox are appended as JSON lines, fsynced, and moved back into the outbox
 * when it has room again. All file operations of one process run one after another (a promise chain), so an
 * append never interleaves with a drain. Events keep their ids, so a re-enqueue after a crash de-duplicates.
 */
export interface SpillFile {
  append(events: readonly OutboxEvent[]): Promise<void>;
  /** Moves spilled events back with `enqueue`; stops at the first failure and keeps the rest. Returns how many moved. */
  drain(enqueue: (events: OutboxEvent[]) => Promise<void>, chunk?: number): Promise<number>;
  /** Spilled events waiting (as of the last operation). */
  pending(): number;
}

export function createSpillFile(path: string): SpillFile {
  let chain: Promise<unknown> = Promise.resolve();
  let pending = 0;
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn);
    chain = p.catch(() => undefined);
    return p;
  };

  async function read(): Promise<OutboxEvent[]> {
    const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    // A torn last line (crash mid-append) is skipped; every complete line was fsynced before its append resolved.
    return text.split('\n').flatMap((l) => {
      try {
        return l ? [JSON.parse(l) as OutboxEvent] : [];
      } catch {
        return [];
      }
    });
  }

  return {
    append: (events) => serial(async () => {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await appendFile(path, events.map((e) => JSON.stringify(e) + '\n').join(''), { mode: 0o600, flush: true });
      pending += events.length;
    }),
    drain: (enqueue, chunk = 500) => serial(async () => {
      const all = await read();
      let moved = 0;
      try {
        while (moved < all.length) {
          const part = all.slice(moved, moved + chunk);
          await enqueue(part);
          moved += part.length;
        }
      } finally {
        if (moved > 0) {
          if (moved === all.length) await rm(path, { force: true });
          else {
            const tmp = `${path}.tmp`;
            await writeFile(tmp, all.slice(moved).map((e) => JSON.stringify(e) + '\n').join(''), { mode: 0o600, flush: true });
            await rename(tmp, path);
          }
        }
        pending = all.length - moved;
      }
      return moved;
    }),
    pending: () => pending,
  };
}
