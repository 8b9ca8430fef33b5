// `node bench/detect-ab.ts OTHER_CHECKOUT [ROUNDS]`: this checkout's default scanner against another checkout's
// (e.g. a `git worktree` of the previous commit), interleaved in one process — each round scans the same texts
// with one build, then the other — so the load of a shared machine falls on both alike. Prints the median CPU
// time per round of each and the median of the per-round ratios (this / other): below 1 is faster.
import { resolve } from 'node:path';
import { prose } from './corpus.ts';

interface Scanner { scan(text: string): unknown }
const other = process.argv[2];
if (!other) {
  console.error('usage: node bench/detect-ab.ts OTHER_CHECKOUT [ROUNDS]');
  process.exit(2);
}
const rounds = Number(process.argv[3] ?? 40);
const load = async (root: string): Promise<Scanner> =>
  ((await import(resolve(root, 'src/detect/scanner.ts'))) as { compileScanner: () => Scanner }).compileScanner();
const mine = await load(new URL('..', import.meta.url).pathname);
const theirs = await load(other);

const a = prose(1_000_000);
const b = prose(1_000_000, 4000, 0x5eed2);
const pieces = a.match(/[\s\S]{1,2048}/g)!;
const cpuMs = (f: () => void): number => {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};
const median = (xs: number[]): number => [...xs].sort((p, q) => p - q)[xs.length >> 1]!;
const shapes: [string, number, (s: Scanner) => void][] = [
  ['two 1 MB texts', 2, (s) => { s.scan(a); s.scan(b); }],
  [`${pieces.length} texts of 2 KB`, a.length / 1e6, (s) => { for (const p of pieces) s.scan(p); }],
];
for (const [name, mb, work] of shapes) {
  for (let i = 0; i < 5; i++) { work(mine); work(theirs); } // warm-up (JIT)
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < rounds; i++) {
    x.push(cpuMs(() => work(mine)));
    y.push(cpuMs(() => work(theirs)));
  }
  const ratio = median(x.map((v, i) => v / y[i]!));
  console.log(`${name}: this ${median(x).toFixed(1)} ms (${(mb / median(x) * 1000).toFixed(1)} MB/CPU-s), other ${median(y).toFixed(1)} ms; this/other ${ratio.toFixed(3)}`);
}
