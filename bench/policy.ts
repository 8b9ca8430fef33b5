// Policy decision time: the compiled engine of a 100-rule policy (bench/policy-source.ts) evaluating a rotating set
// of realistic inputs, in process, one core. Mean = one timed loop / decisions; p50/p99 = each decision timed on
// its own (adds ~0.1 µs of timer overhead). Measured twice: with CEL `matches()` in every sixth rule's condition,
// and the same policy with `startsWith()` there, which separates the cost of the regular expressions.
import { loadPolicy } from '../src/policy/load.ts';
import type { PolicyInput } from '../src/policy/input.ts';
import type { PolicyEngine } from '../src/policy/engine.ts';
import { policySource } from './policy-source.ts';

const RULES = Number(process.env.BENCH_DECISION_RULES ?? 100);
const ROUNDS = Number(process.env.BENCH_DECISIONS ?? 100_000);

const features = { stream: false, tools: false, images: false, files: false, maxTokens: 1000, temperature: 0.7, template: false };
const base: PolicyInput = {
  principal: { subject: 'user:alice@acme.example', kind: 'user', groups: ['eng', 'team-3'] },
  resource: { provider: 'openai', model: 'gpt-4o-mini', endpoint: 'openai.chat' },
  request: features,
  context: { now: Date.UTC(2025, 2, 4, 14, 30), clientIp: '10.1.2.3', userAgent: 'OpenAI/Python 1.50.0' },
  findings: [],
};
const inputs: PolicyInput[] = [
  base, // allowed by `eng`
  { ...base, findings: [{ type: 'EMAIL_ADDRESS' }, { type: 'PHONE_NUMBER' }] }, // confidential: allowed
  { ...base, findings: [{ type: 'CREDIT_CARD' }] }, // restricted: blocked for gpt-4o-mini
  { ...base, findings: [{ type: 'SECRET_OPENAI_KEY' }] }, // denied by a CEL rule
  { ...base, resource: { ...base.resource, model: 'o1-preview' }, request: { ...features, stream: true } },
  { ...base, principal: { subject: 'user:bob@acme.example', kind: 'user', groups: ['team-12', 'team-40'] }, request: { ...features, tools: true } },
  { ...base, principal: { subject: 'service:nightly-etl', kind: 'service', groups: ['team-60'] }, resource: { provider: 'anthropic', model: 'claude-haiku-3', endpoint: 'anthropic.messages' } },
  { ...base, principal: { subject: 'user:carol@acme.example', kind: 'user', groups: ['contractors'] } }, // no matching rule
];

function measure(engine: PolicyEngine): { mean: number; p50: number; p99: number; max: number } {
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += engine.evaluate(inputs[i % inputs.length]!).reasons.length; // warm-up (JIT)
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) sink += engine.evaluate(inputs[i % inputs.length]!).reasons.length;
  const mean = ((performance.now() - t0) * 1000) / ROUNDS;
  const each = new Float64Array(ROUNDS);
  for (let i = 0; i < ROUNDS; i++) {
    const s = performance.now();
    sink += engine.evaluate(inputs[i % inputs.length]!).reasons.length;
    each[i] = (performance.now() - s) * 1000;
  }
  if (sink === 0) throw new Error('no decisions');
  each.sort();
  return { mean, p50: each[Math.floor(ROUNDS / 2)]!, p99: each[Math.floor(ROUNDS * 0.99)]!, max: each[ROUNDS - 1]! };
}

const variants = [
  { label: 'with matches()', regex: true },
  { label: 'startsWith() instead', regex: false },
];
for (const v of variants) {
  const { engine } = loadPolicy(policySource(RULES, { regex: v.regex }), { file: 'bench', version: 'pv_bench' });
  const rules = engine.document.rules;
  const effects = inputs.map((i) => engine.evaluate(i).effect).join(',');
  const m = measure(engine);
  console.log(`policy decision, ${rules.length} rules (${rules.filter((r) => r.when).length} CEL, ${v.label}), ${inputs.length} rotating inputs (${effects}), ${ROUNDS} decisions:`);
  console.log(`  mean ${m.mean.toFixed(2)} µs, p50 ${m.p50.toFixed(2)} µs, p99 ${m.p99.toFixed(2)} µs, max ${m.max.toFixed(1)} µs  (target < 20 µs)`);
}
