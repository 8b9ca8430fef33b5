// `node bench/cpu-top.ts FILE.cpuprofile [N] [--from=S] [--per=REQUESTS]`: the N (default 25) functions with the
// most self time and the most inclusive time in a V8 CPU profile (`node --cpu-prof`, or `BENCH_CPU_PROF=DIR npm run
// bench`), then the busy time split by gateway component (COMPONENTS below). `--from=S` leaves out the profile's
// first S seconds (start-up: module loading, JIT warm-up); `--per=REQUESTS` also prints each component in µs per
// request (the profiler inflates absolute times by a few percent: compare shares, or profiles taken alike).
import { readFileSync } from 'node:fs';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/**
 * A sample counts for the first component (in this order) with a frame on its stack: the order puts the specific
 * parts (the store worker's messaging, sealing, the chain) before the general ones that call them (the recorder,
 * the pipeline). A frame matches when `url/functionName` contains one of the strings; a string starting with `^`
 * matches the sampled (innermost) frame only — e.g. the native COMMIT that the worker's `apply` runs itself.
 */
const COMPONENTS: [string, string[]][] = [
  ['GC', ['(garbage collector)']],
  ['store worker messaging (postMessage, structured clone)', ['node:internal/worker/postMessage', 'sqlite/index.ts/', 'internal/worker/io', '^/postMessage']],
  ['SQLite transaction: BEGIN/COMMIT (WAL writes)', ['^sqlite/worker.ts/apply']],
  ['sealing (AES-GCM)', ['crypto/keyring.ts', 'audit/recording.ts/seal']],
  ['audit chain (payload, canonical JSON, digests, insert)', ['audit/log.ts', 'audit/chain.ts', 'audit/observer.ts', 'core/canonical-json.ts', 'sqlite/audit.ts/append', 'sqlite/audit.ts/exchangePayload', 'audit.append']],
  ['sessions (assignment)', ['assignSession', 'sessions.assign']],
  ['recording: message dedup (spans, digests)', ['audit/dedup.ts', 'audit/body-split.ts']],
  ['recording: other (records, rows, hygiene)', ['audit/', 'sqlite/rows.ts']],
  ['exchange rows (insert, update)', ['sqlite/core.ts']],
  ['analytics roll-up (folds every exchange later)', ['src/analytics/', 'sqlite/analytics.ts']],
  ['alerts (evaluates every exchange later)', ['src/alerts/', 'sqlite/alerts.ts']],
  ['replica lease, orphan sweep', ['sqlite/replicas.ts', 'src/fleet/']],
  ['policy', ['src/policy/', 'proxy/guard.ts']],
  ['detection', ['src/detect/']],
  ['budgets', ['src/budgets/', 'governance/']],
  ['auth', ['src/identity/']],
  ['SSE relay', ['proxy/stream.ts', 'proxy/sse.ts']],
  ['upstream client (undici)', ['undici/', 'proxy/upstream.ts']],
  ['body read + JSON parse', ['http/body.ts', 'proxy/body.ts', 'proxy/json-pieces.ts', 'core/json-exact.ts', 'parseUpstreamJson', 'identifiers.ts']],
  ['HTTP server: response write (writev)', ['node:_http_outgoing', 'writev']],
  ['HTTP server: parse, sockets', ['node:_http_server', 'node:_http_common', 'node:net', 'node:internal/stream_base_commons']],
  ['SQLite (other store calls)', ['node:sqlite', 'sqlite/']],
  ['pipeline and the rest of src/', ['/src/']],
];

const args = process.argv.slice(2);
const flag = (name: string): number | undefined => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? undefined : Number(a.slice(name.length + 3));
};
const [file, count] = args.filter((a) => !a.startsWith('--'));
if (!file) throw new Error('usage: node bench/cpu-top.ts FILE.cpuprofile [N] [--from=S] [--per=REQUESTS]');
const fromUs = (flag('from') ?? 0) * 1e6;
const per = flag('per');
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const time = new Map<number, number>();
let at = 0;
p.samples.forEach((id, i) => {
  at += p.timeDeltas[i] ?? 0;
  if (at >= fromUs) time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
});
const name = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
const matchKey = (n: ProfileNode) => `${n.callFrame.url}/${n.callFrame.functionName}`;

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const components = new Map<string, number>();
let total = 0;
for (const [id, t] of time) {
  if (byId.get(id)!.callFrame.functionName === '(idle)') continue; // time waiting, not working
  total += t;
  self.set(name(byId.get(id)!), (self.get(name(byId.get(id)!)) ?? 0) + t);
  const seen = new Set<string>();
  const stack: string[] = [];
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const k = name(byId.get(at)!);
    stack.push(matchKey(byId.get(at)!));
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + t);
    seen.add(k);
  }
  const matches = (s: string): boolean => (s.startsWith('^') ? stack[0]!.includes(s.slice(1)) : stack.some((f) => f.includes(s)));
  const c = COMPONENTS.find(([, pats]) => pats.some(matches))?.[0] ?? 'other (Node internals, timers, microtasks)';
  components.set(c, (components.get(c) ?? 0) + t);
}
const top = (m: Map<string, number>, n = Number(count ?? 25)) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
for (const [title, m] of [['self', self], ['inclusive', inclusive]] as const) {
  console.log(`${title} time (% of ${(total / 1e6).toFixed(1)} s busy):`);
  for (const [k, t] of top(m)) console.log(`${((100 * t) / total).toFixed(1).padStart(6)}  ${k}`);
}
console.log(`by component (% of busy${per ? `; µs per request over ${per} requests` : ''}):`);
for (const [k, t] of top(components, Infinity)) console.log(`${((100 * t) / total).toFixed(1).padStart(6)}${per ? `  ${(t / per).toFixed(1).padStart(7)} µs` : ''}  ${k}`);
