// Starts a benchmark child (bench/proc/*.ts) and waits for its `READY <fields…>` line on stdout.
import { spawn, type ChildProcess } from 'node:child_process';

const ROOT = new URL('../..', import.meta.url).pathname;

export function startChild(script: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<{ proc: ChildProcess; fields: string[] }> {
  const proc = spawn(process.execPath, [...nodeArgs, script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('READY '));
      if (line) resolve({ proc, fields: line.slice(6).trim().split(' ') });
    });
    proc.once('exit', (c) => reject(new Error(`${script} exited ${c}`)));
  });
}
