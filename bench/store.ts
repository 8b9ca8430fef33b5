// `node bench/store.ts`: what recording costs without HTTP — the SQLite store worker, the exchange recorder and the
// audit chain (two entries and a session per exchange), as the gateway composes them. Exchanges are recorded
// `inFlight` at a time (start awaited, then finish, like the pipeline); CPU per exchange is split into the main
// thread and the store worker (/proc/self/task, Linux), so a change to either side shows where it lands.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../src/audit/log.ts';
import { createAuditObserver } from '../src/audit/observer.ts';
import { ExchangeRecorder, type StartRecord } from '../src/audit/recorder.ts';
import { newId } from '../src/core/ids.ts';
import { Keyring } from '../src/crypto/keyring.ts';
import { sqliteAuditRepo } from '../src/store/sqlite/audit.ts';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import { threadCpu, threadSplit } from './threads.ts';

const N = Number(process.env.BENCH_STORE_EXCHANGES ?? 12_000);

const dir = mkdtempSync(join(tmpdir(), 'pcl-bench-store-'));
const store = await SqliteStore.open({ path: join(dir, 'store.db'), synchronous: 'normal' });
const keyring = new Keyring(randomBytes(32));
const clock = { now: () => Date.now(), mono: () => performance.now() };
const repo = sqliteAuditRepo(store);
const log = await AuditLog.open({ repo, keyring, clock, writerId: 'bench', checkpointIntervalMs: 0, checkpointEveryEntries: 1000 });
const recorder = new ExchangeRecorder({
  store, keyring, clock, recordBodies: true, flushIntervalMs: 250,
  observers: [createAuditObserver({ log, repo, keyring, sessionGapMs: 1_800_000 })],
});
const request = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Summarise the quarterly numbers for the team in two sentences.' }] }));
const response = Buffer.from(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Revenue rose 4 %; costs fell.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } }));

function startRecord(): StartRecord {
  return {
    id: newId('ex'), startedAt: Date.now(), subject: 'key:bench',
    principal: { authMethod: 'api_key', credentialId: 'key:bench', displayName: 'bench', groups: ['eng'], kind: 'user' },
    endpoint: 'openai.chat', method: 'POST', path: '/v1/chat/completions', model: 'gpt-4o-mini', provider: 'up', upstreamModel: 'gpt-4o-mini',
    stream: false, clientIp: '127.0.0.1', userAgent: 'undici', sessionHint: null, findings: [],
    decision: { decisionId: 'dec_1', effect: 'allow', enforced: true, matchedRuleIds: [], policyVersion: null, reasons: [{ code: 'no_policy_configured' }] },
  };
}

async function one(): Promise<void> {
  const recording = await recorder.begin(startRecord(), { client: request, upstream: undefined });
  await recording.finish({
    finishedAt: Date.now(), status: 'completed', httpStatus: 200, errorCode: null, responseFindings: [], forwarded: true,
    timings: { upstreamFirstByteMs: 0.4, clientFirstByteMs: 0.5, totalMs: 0.6 }, usage: { inputTokens: 20, outputTokens: 9, totalTokens: 29 },
  }, response);
}

async function run(inFlight: number, n: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next++ < n) await one();
  }));
}

console.log(`recording one non-streamed exchange (sealed bodies, start + finish, two audit entries, session), ${N} per setting:`);
await run(16, 2000); // warm-up (JIT, tables)
for (const inFlight of [1, 4, 16]) {
  const before = threadCpu('self');
  const t0 = performance.now();
  await run(inFlight, N);
  const secs = (performance.now() - t0) / 1000;
  const t = threadSplit(before, threadCpu('self'));
  const us = (s: number): string => ((s / N) * 1e6).toFixed(1);
  console.log(`  ${String(inFlight).padStart(2)} in flight: ${(N / secs).toFixed(0)} exchanges/s; CPU µs per exchange: main ${us(t.main)}, store worker ${us(t.store)}, checkpointer ${us(t.checkpointer)}, all threads ${us(t.main + t.store + t.checkpointer + t.other)}`);
}
await log.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
