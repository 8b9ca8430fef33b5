// `node bench/cpu-top.ts FILE.cpuprofile [N]`: the N (default 25) functions with the most self time and the most
// inclusive time in a V8 CPU profile (`node --cpu-prof`, or `BENCH_CPU_PROF=DIR npm run bench`).
import { readFileSync } from 'node:fs';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const [file, count] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/cpu-top.ts FILE.cpuprofile [N]');
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const time = new Map<number, number>();
p.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const name = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
for (const [id, t] of time) {
  if (byId.get(id)!.callFrame.functionName === '(idle)') continue; // time waiting, not working
  total += t;
  self.set(name(byId.get(id)!), (self.get(name(byId.get(id)!)) ?? 0) + t);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const k = name(byId.get(at)!);
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + t);
    seen.add(k);
  }
}
const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(count ?? 25));
for (const [title, m] of [['self', self], ['inclusive', inclusive]] as const) {
  console.log(`${title} time (% of ${(total / 1e6).toFixed(1)} s busy):`);
  for (const [k, t] of top(m)) console.log(`${((100 * t) / total).toFixed(1).padStart(6)}  ${k}`);
}
