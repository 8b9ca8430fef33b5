// Detection, in process, one core: (1) scanning throughput of the full built-in detector set on ~1 MB of prose with
// sparse PII (bench/corpus.ts), as one text and as 2 KB message-sized texts; (2) the added latency of the whole
// request transform (walk + scan + actions) on a typical 2 KB chat request, as the guard runs it per exchange;
// (3) the streaming hold-back window: the bound derived from the scanner, and what a chat stream actually held.
import { loadNameRecognizer } from '../src/detect/ner/index.ts';
import { compileScanner } from '../src/detect/scanner.ts';
import { compileContentPolicy } from '../src/detect/policy-content.ts';
import { createRequestTransform, createStreamRewriter } from '../src/detect/content/index.ts';
import { prose } from './corpus.ts';
import { benchContentSection } from './policy-source.ts';

const MB = 1e6;
const CORPUS_BYTES = Number(process.env.BENCH_CORPUS_BYTES ?? 1_000_000);
const TRANSFORMS = Number(process.env.BENCH_TRANSFORMS ?? 5000);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

// 1. Throughput.
const scanner = compileScanner();
const text = prose(CORPUS_BYTES);
const bytes = Buffer.byteLength(text);
const pieces = text.match(/[\s\S]{1,2048}/g)!;
/** MB/s of wall time, and MB per second of this process's CPU time (less sensitive to a loaded machine). */
function rate(run: () => number, minMs = 3000): { mbps: number; cpu: number; findings: number } {
  run(); // warm-up (JIT)
  let n = 0;
  let findings = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < minMs || n < 3) {
    findings = run();
    n++;
  }
  const c = process.cpuUsage(c0);
  return { mbps: (n * bytes) / MB / ((performance.now() - t0) / 1000), cpu: (n * bytes) / MB / ((c.user + c.system) / 1e6), findings };
}
const show = (r: { mbps: number; cpu: number }) => `${r.mbps.toFixed(1)} MB/s (${r.cpu.toFixed(1)} MB/CPU-s)`;
const whole = rate(() => scanner.scan(text).length);
const split = rate(() => pieces.reduce((k, p) => k + scanner.scan(p).length, 0));
const types = [...new Set(scanner.scan(text).map((f) => f.type))].sort().join(', ');
console.log(`scan throughput, ${scanner.detectors.length} built-in detectors (${scanner.types.length} types), ${(bytes / MB).toFixed(2)} MB prose, one core:`);
console.log(`  one ${(bytes / MB).toFixed(2)} MB text: ${show(whole)}; ${pieces.length} texts of 2 KB: ${show(split)}  (target ≥ 50 MB/s)`);
console.log(`  findings per pass: ${whole.findings} (whole), ${split.findings} (pieces): ${types}`);
// The optional names recognizer (config detection.names), alone, on the same prose.
const names = compileScanner({ builtIns: ['names'], extra: [await loadNameRecognizer()] });
console.log(`names recognizer alone: one text ${show(rate(() => names.scan(text).length))}; 2 KB texts ${show(rate(() => pieces.reduce((k, p) => k + names.scan(p).length, 0)))}  (target ≥ 5 MB/s)`);

// 2. Request transform on a typical 2 KB chat request, every built-in detector on.
const content = compileContentPolicy(benchContentSection);
const history = prose(1740, 1e9).split('\n\n').filter(Boolean);
const body = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a helpful assistant for the operations team. Answer briefly and cite the document you used.' },
    { role: 'user', content: history[0] },
    { role: 'assistant', content: history[1] },
    { role: 'user', content: `${history.slice(2).join(' ')} Please send the summary to jane.doe@example.com by Friday.` },
  ],
};
const bodyBytes = Buffer.byteLength(JSON.stringify(body));
const opts = { scanners: content.scanners, actionFor: content.actionFor };
const once = () => createRequestTransform('openai.chat', opts)(body);
const sample = once();
for (let i = 0; i < 2000; i++) once(); // warm-up
const times: number[] = [];
for (let i = 0; i < TRANSFORMS; i++) {
  const s = performance.now();
  once();
  times.push(performance.now() - s);
}
console.log(`request transform, openai.chat ${bodyBytes} B (${body.messages.length} messages), all built-in detectors, ${TRANSFORMS} runs:`);
console.log(`  median ${pct(times, 0.5).toFixed(3)} ms, p99 ${pct(times, 0.99).toFixed(3)} ms  (target median < 0.2 ms); findings: ${sample.findings.map((f) => `${f.type}→${f.action}`).join(', ')}`);

// 3. Streaming hold-back (src/detect/stream/transformer.ts): L = longest bounded match; a window scan happens once
// minRelease characters became releasable (default min(64, 512 − L)); hold-back ≤ L − 1 + minRelease − 1.
const L = scanner.maxBoundedMatchLength;
const minRelease = Math.max(1, Math.min(64, 512 - L));
const answer = prose(20_000, 5000);
function held(delta: number): number {
  const rw = createStreamRewriter('openai.chat', opts);
  const env = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o-mini' };
  for (let i = 0; i < answer.length; i += delta) {
    rw.onEvent({ data: { ...env, choices: [{ index: 0, delta: { content: answer.slice(i, i + delta) }, finish_reason: null }] } });
  }
  rw.onEvent({ data: { ...env, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] } });
  rw.onEvent({ data: '[DONE]' });
  return rw.maxHeld;
}
const caps = scanner.unbounded.map((u) => `${u.detector} ${u.cap}`).join(', ');
console.log(`streaming hold-back: L = ${L} chars (longest bounded match), minRelease ${minRelease} → bound ${L - 1 + minRelease - 1} chars;`);
console.log(`  measured max held on a ${answer.length}-char chat answer: ${held(4)} chars with 4-char deltas, ${held(1)} with 1-char deltas, ${held(64)} with 64-char deltas`);
console.log(`  unbounded (held from the start marker while open, up to the cap): ${caps}`);
