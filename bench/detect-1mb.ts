// Detection throughput only (the first part of bench/detect.ts, without the names recognizer, the request
// transform and the streaming parts): one 1 MB text scanned again and again, two different 1 MB texts alternating
// (so no per-text memo serves a scan from the previous one), and the first text as 2 KB texts. MB per second of
// this process's CPU time: compare A/B runs made in the same minute on a shared machine.
import { compileScanner } from '../src/detect/scanner.ts';
import { prose } from './corpus.ts';

const MB = 1e6;
const MIN_MS = Number(process.env.BENCH_MIN_MS ?? 3000);
const scanner = compileScanner();
const a = prose(1_000_000);
const b = prose(1_000_000, 4000, 0x5eed2);
function cpuRate(texts: readonly string[]): number {
  const bytes = texts.reduce((k, t) => k + Buffer.byteLength(t), 0);
  for (const t of texts) scanner.scan(t); // warm-up (JIT)
  let n = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < MIN_MS || n < 3) {
    for (const t of texts) scanner.scan(t);
    n++;
  }
  const c = process.cpuUsage(c0);
  return (n * bytes) / MB / ((c.user + c.system) / 1e6);
}
const pieces = a.match(/[\s\S]{1,2048}/g)!;
const one = cpuRate([a]).toFixed(1);
const two = cpuRate([a, b]).toFixed(1);
console.log(`MB/CPU-s: one 1 MB text ${one}; two 1 MB texts alternating ${two}; ${pieces.length} texts of 2 KB ${cpuRate(pieces).toFixed(1)}`);
