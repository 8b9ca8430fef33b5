// CPU time of a process's threads, from /proc (Linux): the benchmark splits its CPU figures into the main thread,
// the store worker, the WAL checkpointer and the rest (V8 helper threads: JIT compilation, GC).
import { readdirSync, readFileSync } from 'node:fs';
import { CHECKPOINT_THREAD, STORE_THREAD } from '../src/store/sqlite/index.ts';

/** CPU seconds (user + sys) per thread name (MainThread, pcl-store, V8Worker…) of `pid` (or this process). */
export function threadCpu(pid: number | 'self'): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100); // utime, stime in ticks (USER_HZ = 100)
  }
  return out;
}

/** CPU seconds of the whole process (all threads, also those that ended), from /proc (Linux). */
export function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

export interface ThreadSplit {
  main: number;
  store: number;
  checkpointer: number;
  other: number;
}

/** Thread CPU used between two readings: main thread, store worker, WAL checkpointer, the rest. */
export function threadSplit(a: Map<string, number>, b: Map<string, number>): ThreadSplit {
  const d = (k: string): number => (b.get(k) ?? 0) - (a.get(k) ?? 0);
  const named = new Set(['MainThread', STORE_THREAD, CHECKPOINT_THREAD]);
  let other = 0;
  for (const k of b.keys()) if (!named.has(k)) other += d(k);
  return { main: d('MainThread'), store: d(STORE_THREAD), checkpointer: d(CHECKPOINT_THREAD), other };
}
