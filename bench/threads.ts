// CPU time of a process's threads, from /proc (Linux): the benchmark splits its CPU figures into the main thread,
// the store worker and the rest (V8 helper threads: JIT compilation, GC).
import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds (user + sys) per thread name (MainThread, WorkerThread, V8Worker…) of `pid` (or this process). */
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

/** Thread CPU used between two readings, as main thread / store worker / the rest. */
export function threadSplit(a: Map<string, number>, b: Map<string, number>): { main: number; worker: number; other: number } {
  const d = (k: string): number => (b.get(k) ?? 0) - (a.get(k) ?? 0);
  let other = 0;
  for (const k of b.keys()) if (k !== 'MainThread' && k !== 'WorkerThread') other += d(k);
  return { main: d('MainThread'), worker: d('WorkerThread'), other };
}
