import { spawn } from 'node:child_process';

/** The `portcullis` binary, as a user runs it. */
export const BIN = new URL('../../bin/portcullis.js', import.meta.url).pathname;

/** Runs the real binary with exactly `env` (no inherited credentials) and collects what it printed. */
export function runBin(args: string[], o: { env: Record<string, string | undefined>; cwd?: string }): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: o.cwd, env: o.env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}
