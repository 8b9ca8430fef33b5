// Starts a benchmark child (bench/proc/*.ts) and waits for its `READY <fields…>` line on stdout.
import { spawn, type ChildProcess } from 'node:child_process';

const ROOT = new URL('../..', import.meta.url).pathname;

/**
 * `maxFiles`: start the child under `ulimit -n maxFiles` (a shell sets it, then execs node): a gateway holding
 * 10,000 client and 10,000 upstream sockets needs more descriptors than the usual soft limit. Raising the hard limit
 * needs root (CAP_SYS_RESOURCE); otherwise the shell fails and so does the start, saying why.
 */
export function startChild(script: string, env: Record<string, string> = {}, nodeArgs: string[] = [], maxFiles?: number): Promise<{ proc: ChildProcess; fields: string[] }> {
  const argv = [...nodeArgs, script];
  const opts = { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] as ('ignore' | 'pipe' | 'inherit')[] };
  const proc = maxFiles
    ? spawn('/bin/sh', ['-c', `ulimit -n ${maxFiles} && exec "$0" "$@"`, process.execPath, ...argv], opts)
    : spawn(process.execPath, argv, opts);
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('READY '));
      if (line) resolve({ proc, fields: line.slice(6).trim().split(' ') });
    });
    proc.once('exit', (c) => reject(new Error(`${script} exited ${c}`)));
  });
}
