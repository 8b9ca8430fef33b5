import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { canonicalJson } from '../../src/audit/chain.ts';
import { AuditLog } from '../../src/audit/log.ts';
import { createAuditObserver } from '../../src/audit/observer.ts';
import { sealBody, sealSegment } from '../../src/audit/recording.ts';
import type { AuditRepo } from '../../src/audit/repo.ts';
import { runRetention } from '../../src/audit/runtime.ts';
import { verifyStore } from '../../src/audit/verify-store.ts';
import type { ApprovalRow } from '../../src/approvals/repo.ts';
import { openApprovalRepo } from '../../src/store/approval-repo.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import type { ExchangeStart, Store } from '../../src/store/ports.ts';

export interface AuditHarness {
  /** Opens a new connection (a second replica) to the same database. */
  open(): Promise<{ store: Store; repo: AuditRepo }>;
  /** Runs raw SQL as an attacker with database access (positional `?` placeholders). */
  tamper(sql: string): Promise<void>;
}

/** The same behaviour on every engine (STYLE.md #7): chain, checkpoints, keys, bodies, retention, sessions, concurrency. */
export function auditRepoConformance(name: string, harness: () => Promise<AuditHarness & { close(): Promise<void> }>): void {
  describe(`audit repo conformance: ${name}`, () => {
    let h: AuditHarness & { close(): Promise<void> };
    const opened: Store[] = [];
    const keyring = new Keyring(randomBytes(32));
    const clock = { now: () => Date.parse('2025-02-01T00:00:00Z'), mono: () => 0 };
    const open = async () => {
      const r = await h.open();
      opened.push(r.store);
      return r;
    };
    before(async () => {
      h = await harness();
    });
    after(async () => {
      for (const s of opened) await s.close();
      await h.close();
    });

    it('appends a gap-free chain per writer, pages it, and verifies with checkpoints and body digests', async () => {
      const { store, repo } = await open();
      const log = await AuditLog.open({ repo, keyring, clock, writerId: 'w-1', checkpointIntervalMs: 0, checkpointEveryEntries: 1e6 });
      const obs = createAuditObserver({ log, repo, keyring, sessionGapMs: 60_000 });
      for (let i = 0; i < 3; i++) {
        const start: ExchangeStart = {
          id: `ex_c${i}`, startedAt: clock.now() + i, subject: 'alice', principal: { credentialId: 'k1' }, endpoint: 'chat.completions', method: 'POST',
          path: '/v1/chat/completions', model: 'gpt-4o', provider: 'mock', upstreamModel: null, stream: false, clientIp: null, userAgent: 'sdk/1',
          decision: null, findings: [], clientRequest: sealBody(keyring, `ex_c${i}`, 'client_request', Buffer.from('{"metadata":{"session_id":"s-1"}}')), upstreamRequest: null,
        };
        await store.exchanges.start(start);
        await obs.onStart!(start);
        // The last one is a stream: its segment was written along the way, so the store digests what it holds.
        const streamed = i === 2;
        if (streamed) await store.exchanges.appendSegment(start.id, 0, sealSegment(keyring, start.id, 0, [[1, null, '{"x":1}'], [2, null, '[DONE]']]));
        const finish = { id: start.id, finishedAt: start.startedAt + 5, status: 'completed' as const, httpStatus: 200, errorCode: null, timings: { upstreamFirstByteMs: 1, clientFirstByteMs: 1, totalMs: 5 }, usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 }, response: streamed ? null : sealBody(keyring, start.id, 'response', Buffer.from('{}')), eventCount: streamed ? 2 : 0, responseFindings: [], forwarded: true };
        await store.exchanges.finish(finish);
        await obs.onFinish!(start, finish);
      }
      await log.checkpoint();
      const page1 = await repo.entries({ writer: 'w-1', afterSeq: 0, limit: 4 });
      const page2 = await repo.entries({ writer: 'w-1', afterSeq: 4, limit: 4 });
      assert.deepEqual([...page1, ...page2].map((e) => e.seq), [1, 2, 3, 4, 5, 6]);
      assert.equal(page2[0]!.prev, page1[3]!.hash);
      assert.deepEqual((await repo.heads()).map((x) => [x.writer, x.seq]), [['w-1', 6]]);
      assert.equal((await repo.entriesBetween(clock.now(), clock.now() + 1)).length, 6);
      assert.equal((await repo.entry('w-1', 2))!.kind, 'exchange.finished');
      assert.equal((await repo.checkpoints('w-1')).length, 1);
      assert.equal((await repo.keys()).length, 1);
      const r = await verifyStore({ repo, now: clock.now() });
      assert.equal(r.ok, true, JSON.stringify(r.problems));
      assert.equal(r.bodies.checked, 6);
      // Heads of several writers, in writer order (the skip-scan visits each writer once).
      for (const [w, n] of [['w-0', 2], ['w-2', 3]] as const) {
        for (let i = 0; i < n; i++) await repo.append(w, { at: clock.now(), kind: 'admin.action', subject: 'user:x', refId: null, payloadJson: canonicalJson({ i }) });
      }
      assert.deepEqual((await repo.heads()).map((x) => [x.writer, x.seq]), [['w-0', 2], ['w-1', 6], ['w-2', 3]]);

      const sessions = await repo.sessions({ subject: 'alice' });
      assert.equal(sessions.length, 1);
      assert.equal(sessions[0]!.source, 'metadata.session_id');
      assert.deepEqual(await repo.sessionExchanges(sessions[0]!.id), ['ex_c0', 'ex_c1', 'ex_c2']);
      assert.equal((await repo.session(sessions[0]!.id))!.exchangeCount, 3);

      await h.tamper("UPDATE exchanges SET response = NULL WHERE id = 'ex_c1'");
      await h.tamper("UPDATE exchange_segments SET sealed = (SELECT client_request FROM exchanges WHERE id = 'ex_c2') WHERE exchange_id = 'ex_c2'");
      assert.deepEqual((await verifyStore({ repo, now: clock.now() })).problems.map((p) => `${p.code}@${p.exchangeId}`), ['body_missing@ex_c1', 'body_modified@ex_c2']);
      // Held prompts: a decided approval's goes with the bodies, a pending one's stays.
      const approvals = openApprovalRepo(store);
      for (const [id, state] of [['apr_done', 'denied'], ['apr_open', 'pending']] as const) {
        await approvals.create(heldApproval(id, state, keyring, clock.now()), { approvalId: id, at: clock.now(), actor: 'alice', action: 'created', from: null, to: state, reason: null });
      }
      // A retention run a day on, keeping one day: everything above is older than its cutoff (now + 10 ms).
      const runAt = clock.now() + 86_400_000 + 10;
      const purged = await runRetention({ repo, log, now: runAt, retention: { bodies_days: 1, metadata_days: 0, purge_interval_ms: 60_000 } });
      assert.deepEqual(purged, { bodiesPurged: 3, exchangesDeleted: 0, heldPromptsPurged: 1, tombstones: 3 });
      assert.equal((await approvals.get('apr_done'))!.sealedRequest, null);
      assert.notEqual((await approvals.get('apr_open'))!.sealedRequest, null);
      const run = (await repo.entries({ writer: 'w-1', afterSeq: 0, limit: 100 })).at(-1)!;
      assert.equal(run.kind, 'retention.purged');
      assert.equal(run.payload.purged_at, runAt);
      const after = await verifyStore({ repo, now: clock.now() });
      assert.equal(after.ok, true, JSON.stringify(after.problems));
      assert.equal(after.bodies.purged, 6);
      // Attack: re-date one tombstone so that no chained run accounts for it.
      await h.tamper(`UPDATE audit_tombstones SET purged_at = ${runAt + 1} WHERE exchange_id = 'ex_c1'`);
      assert.deepEqual((await verifyStore({ repo, now: clock.now() })).problems.map((p) => p.code), ['tombstone_unaccounted']);
      await h.tamper(`UPDATE audit_tombstones SET purged_at = ${runAt} WHERE exchange_id = 'ex_c1'`);
    });

    it('refuses an entry about an exchange that is not recorded, or that claims a finish the record does not have', async () => {
      const { store, repo } = await open();
      const append = (id: string, phase: 'start' | 'finish') =>
        repo.append('w-x', { at: clock.now(), kind: `exchange.${phase === 'start' ? 'started' : 'finished'}`, subject: 'mallory', refId: id, payloadJson: '{}', digestBodies: { exchangeId: id, phase, inPayload: true } });
      await assert.rejects(append('ex_forged', 'start'), /not recorded/);
      await store.exchanges.start({
        id: 'ex_open', startedAt: clock.now(), subject: 'mallory', principal: null, endpoint: 'chat.completions', method: 'POST', path: '/v1/chat/completions',
        model: 'gpt-4o', provider: 'mock', upstreamModel: null, stream: false, clientIp: null, userAgent: null, decision: null, findings: [], clientRequest: null, upstreamRequest: null,
      });
      await append('ex_open', 'start');
      await assert.rejects(append('ex_open', 'finish'), /no recorded finish/);
      assert.deepEqual((await repo.heads()).filter((x) => x.writer === 'w-x').map((x) => x.seq), [1]);
    });

    it('two replicas appending concurrently as one writer never fork the chain', async () => {
      const a = await open();
      const b = await open();
      const la = await AuditLog.open({ repo: a.repo, keyring, clock, writerId: 'w-shared', checkpointIntervalMs: 0, checkpointEveryEntries: 1e6 });
      const lb = await AuditLog.open({ repo: b.repo, keyring, clock, writerId: 'w-shared', checkpointIntervalMs: 0, checkpointEveryEntries: 1e6 });
      assert.equal(la.publicKey.keyId, lb.publicKey.keyId);
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? la : lb).append({ kind: 'test.append', payload: { i } })));
      await la.checkpoint();
      const rows = await a.repo.entries({ writer: 'w-shared', afterSeq: 0, limit: 100 });
      assert.deepEqual(rows.map((e) => e.seq), Array.from({ length: 40 }, (_, i) => i + 1));
      const r = await verifyStore({ repo: b.repo, now: clock.now() });
      assert.equal(r.ok, true, JSON.stringify(r.problems));
    });
    it('finds policy activations by what they are about, newest first, and nothing else', async () => {
      const { repo } = await open();
      let t = 1000;
      const log = await AuditLog.open({ repo, keyring, clock: { now: () => (t += 10), mono: () => 0 }, writerId: 'w-ref', checkpointIntervalMs: 0, checkpointEveryEntries: 1e6 });
      await log.append({ kind: 'policy.activated', subject: 'admin', refId: 'pv_A', payload: { n: 1 } });
      await log.append({ kind: 'admin.action', subject: 'admin', refId: 'pv_A', payload: { n: 2 } });
      await log.append({ kind: 'policy.activated', subject: 'admin', refId: 'pv_B', payload: { n: 3 } });
      await log.append({ kind: 'policy.activated', subject: 'admin', refId: 'pv_A', payload: { n: 4 } });
      assert.deepEqual((await repo.entriesByRef('policy.activated', 'pv_A', 10)).map((e) => e.payload.n), [4, 1]);
      assert.deepEqual((await repo.entriesByRef('policy.activated', 'pv_A', 1)).map((e) => e.payload.n), [4]);
      assert.deepEqual(await repo.entriesByRef('policy.activated', 'pv_none', 10), []);
      await log.close();
    });
  });
}

/** An approval holding a sealed prompt, in `state`, last changed at `at`. */
function heldApproval(id: string, state: 'denied' | 'pending', keyring: Keyring, at: number): ApprovalRow {
  return {
    id, state, ruleId: 'r', mode: 'hold', scope: 'request', requester: 'user:alice', requesterName: 'alice', requesterGroups: [], endpoint: 'openai.chat',
    model: 'gpt-4o', policyVersion: null, decisionId: null, exchangeId: `ex_${id}`, digest: id, approverGroups: ['sec'], quorum: 1, eachGroup: false,
    windowMs: null, justification: null, breakGlass: false, findings: [], sealedRequest: keyring.seal('approvals', Buffer.from('{"messages":[]}'), `approval/${id}`),
    createdAt: at, updatedAt: at, expiresAt: at + 60_000, decidedAt: state === 'pending' ? null : at, decidedBy: null, reason: null,
  };
}
