/**
 * Alert evaluation throughput (docs/alerts.md#throughput): 5000 finished exchanges of 200 identities in 10 groups
 * (a quarter refused, a few from a new client tool), evaluated by three rules (refusal burst, new client, spend per
 * day) in batches of 500, as the evaluator does. `node bench/alerts.ts [store-url]` (default: a temporary SQLite).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileRules, hitsOf } from '../src/alerts/rules.ts';
import type { AlertRuleConfig } from '../src/alerts/config-schema.ts';
import { openAlertRepo } from '../src/store/alerts-repo.ts';
import { openStore } from '../src/store/open.ts';
const RULES: AlertRuleConfig[] = [
  { id: 'refusals', kind: 'refusals', threshold: 5, window_minutes: 10, severity: 'high', respond: 'none' },
  { id: 'tool', kind: 'new_client', severity: 'low', respond: 'none' },
  { id: 'spend', kind: 'spend', threshold: 100, severity: 'low', respond: 'none' },
];
const url = process.argv[2] ?? `sqlite:${join(mkdtempSync(join(tmpdir(), 'ab-')), 'a.db')}`;
const store = await openStore(url, { baseDir: tmpdir() });
// Exchanges recorded through the store as the gateway records them (refusals in one write).
const N = 5000; const now = Date.now();
for (let i = 0; i < N; i++) {
  const id = `ex_${String(i).padStart(8, '0')}`; const subject = `user:u${i % 200}`; const rejected = i % 4 === 0;
  const start = { id, startedAt: now - N + i, subject, principal: { credentialId: 'k', groups: ['g' + (i % 10)], kind: 'user' }, endpoint: 'openai.chat', method: 'POST', path: '/v1', model: 'gpt-4o', provider: 'openai', upstreamModel: null, stream: false, clientIp: '10.0.0.1', userAgent: i % 50 === 0 ? 'curl/8' : 'OpenAI/JS 6', decision: null, findings: [], clientRequest: null, upstreamRequest: null };
  const fin = { id, finishedAt: now - N + i, status: rejected ? 'rejected' as const : 'completed' as const, httpStatus: 200, errorCode: rejected ? 'policy_denied' : null, timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: 1 }, usage: { inputTokens: 100, outputTokens: 10, totalTokens: null }, response: null, eventCount: 0, responseFindings: [], forwarded: !rejected };
  if (rejected) await store.exchanges.recordRejected(start, fin); else { await store.exchanges.start(start); await store.exchanges.finish(fin); }
}
const repo = openAlertRepo(store); const rules = compileRules(RULES);
const t0 = performance.now(); let opened = 0; let n = 0;
for (;;) { const r = await repo.evaluate(500, rules, (rows) => hitsOf({ rules: RULES, rows, costOf: (_m, i, o) => i + o, now }), now); n += r.evaluated; opened += r.opened.length; if (r.evaluated === 0) break; }
const ms = performance.now() - t0;
console.log(`${store.engine}: evaluated ${n} exchanges (3 rules) in ${ms.toFixed(0)} ms = ${(n / ms * 1000).toFixed(0)}/s; opened ${opened}`);
await store.close();
