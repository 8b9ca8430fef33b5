import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { sha256Hex } from '../../src/audit/chain.ts';
import { exportBundle } from '../../src/audit/bundle.ts';
import { verifyBundle } from '../../src/audit/bundle-verify.ts';
import { exchangeDetail } from '../../src/audit/exchange-view.ts';
import { AuditLog } from '../../src/audit/log.ts';
import { createAuditObserver } from '../../src/audit/observer.ts';
import { ExchangeRecorder, type StartRecord } from '../../src/audit/recorder.ts';
import { openRecordedBody } from '../../src/audit/recording.ts';
import { loadSession, replaySession } from '../../src/audit/replay.ts';
import type { AuditRepo, BodyDigests } from '../../src/audit/repo.ts';
import { runRetention } from '../../src/audit/runtime.ts';
import { verifyStore } from '../../src/audit/verify-store.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import type { Store } from '../../src/store/ports.ts';

export interface DedupHarness {
  open(): Promise<{ store: Store; repo: AuditRepo }>;
  /** Raw SQL as an attacker with database access. */
  tamper(sql: string): Promise<void>;
  /** Rows of a query (inspection). */
  rows(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

const DAY = 86_400_000;

/** A clock the test moves. */
function testClock(start: number): { now(): number; mono(): number; set(t: number): void } {
  let t = start;
  return { now: () => t, mono: () => t, set: (x: number) => void (t = x) };
}

const filler = (turn: number, role: string): string =>
  `${role} turn ${turn}: ` + 'The resolver returns a stale version of the lock file, so the test fails; the fix pins it. '.repeat(10);

/**
 * Deduplicated recording (src/audit/dedup.ts) on one engine: exact bytes back through every reader, tamper evidence,
 * retention that keeps shared messages, scoping, and the bytes an agent session stores per turn.
 */
export function dedupConformance(name: string, harness: () => Promise<DedupHarness>): void {
  describe(`deduplicated recording: ${name}`, () => {
    let h: DedupHarness;
    let store: Store;
    let repo: AuditRepo;
    const keyring = new Keyring(randomBytes(32));
    const t0 = Date.parse('2025-03-01T00:00:00Z');
    const clock = testClock(t0);
    let log: AuditLog;
    let recorder: ExchangeRecorder;
    let n = 0;

    before(async () => {
      h = await harness();
      ({ store, repo } = await h.open());
      log = await AuditLog.open({ repo, keyring, clock, writerId: 'gw-1', checkpointIntervalMs: 0, checkpointEveryEntries: 1e6 });
      recorder = new ExchangeRecorder({
        store, keyring, clock, recordBodies: true, flushIntervalMs: 5,
        observers: [createAuditObserver({ log, repo, keyring, sessionGapMs: 60_000 })],
      });
    });
    after(async () => {
      await store.close();
      await h.close();
    });

    /** Records one completed exchange through the real recorder and audit observer; returns its id. */
    async function record(o: { body: Buffer; upstream?: Buffer; subject?: string; session?: string | null; at?: number }): Promise<string> {
      const id = `ex_${name}_${String(++n).padStart(4, '0')}`;
      if (o.at !== undefined) clock.set(o.at);
      const rec: StartRecord = {
        id, startedAt: clock.now(), subject: o.subject ?? 'alice', principal: { credentialId: 'k1' }, endpoint: 'chat.completions', method: 'POST',
        path: '/v1/chat/completions', model: 'gpt-4o', provider: 'mock', upstreamModel: null, stream: false, clientIp: null, userAgent: 'agent/1',
        decision: null, findings: [],
        sessionHint: o.session === null ? null : { key: o.session ?? 'conv-1', source: 'header' },
      };
      const r = await recorder.begin(rec, { client: o.body, upstream: o.upstream });
      await r.finish({
        finishedAt: clock.now() + 1, status: 'completed', httpStatus: 200, errorCode: null, timings: { upstreamFirstByteMs: 1, clientFirstByteMs: 1, totalMs: 1 },
        usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 }, responseFindings: [], forwarded: true,
      }, Buffer.from('{"choices":[{"message":{"role":"assistant","content":"ok"}}]}'));
      return id;
    }

    const clientBytes = async (id: string): Promise<Buffer> => openRecordedBody(keyring, store.exchanges, id, 'client_request', (await store.exchanges.bodies(id))!.clientRequest!);
    const startDigests = async (id: string): Promise<BodyDigests> => {
      const e = (await repo.entriesBetween(0, Number.MAX_SAFE_INTEGER)).find((x) => x.refId === id && x.kind === 'exchange.started')!;
      return e.payload.bodies as BodyDigests;
    };

    it('gives back the exact bytes of every API family through show and replay, storing each message once', async () => {
      // Odd but valid JSON: whitespace, escapes, a number a double would change, non-ASCII — all must survive.
      const sys = 'You are a careful agent. '.repeat(20);
      const chat = Buffer.from(`{ "model" : "gpt-4o",\n  "messages": [ {"role":"system","content":${JSON.stringify(sys)}} ,\n {"role":"user","content":"\\u00e9t\\u00e9 \\"quoted\\" ${'x'.repeat(200)}", "n": 12345678901234567890} ],\n "metadata":{"k":-0.0}}  `);
      const id1 = await record({ body: chat });
      assert.ok((await clientBytes(id1)).equals(chat), 'chat body reassembled byte for byte');
      const d1 = await startDigests(id1);
      assert.equal(d1.messages!.added.length, 2);

      // The next turn resends both messages and adds one: only the new one is stored.
      const chat2 = Buffer.from(chat.toString().replace('} ],', `} , {"role":"assistant","content":${JSON.stringify(filler(1, 'assistant'))}} ],`));
      const id2 = await record({ body: chat2 });
      assert.ok((await clientBytes(id2)).equals(chat2));
      assert.equal((await startDigests(id2)).messages!.added.length, 1);

      const anthropic = Buffer.from(JSON.stringify({ model: 'claude-x', system: sys, max_tokens: 10, tools: [{ name: 'read', description: 'd'.repeat(300), input_schema: { type: 'object' } }], messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'r'.repeat(5000) }] }] }, null, 1));
      const responses = Buffer.from(JSON.stringify({ model: 'gpt-4o', instructions: sys, input: [{ role: 'user', content: filler(2, 'user') }, { type: 'function_call_output', call_id: 'c1', output: 'o'.repeat(400) }] }));
      // A changed upstream body (masking) shares the conversation's messages.
      const masked = Buffer.from(anthropic.toString().replace('"user"', '"user" '));
      const id3 = await record({ body: anthropic, upstream: masked });
      const id4 = await record({ body: responses });
      for (const [id, body] of [[id3, anthropic], [id4, responses]] as const) assert.ok((await clientBytes(id)).equals(body), `${id} exact`);
      // The same system text (the same JSON string bytes) in the Responses body's `instructions` is reused, not stored again.
      assert.ok(!(await startDigests(id4)).messages!.added.some(([ref]) => d1.messages!.added.map((a) => a[0]).includes(ref)));
      const up = (await store.exchanges.bodies(id3))!.upstreamRequest!;
      assert.ok((await openRecordedBody(keyring, store.exchanges, id3, 'upstream_request', up)).equals(masked));

      // exchanges show (the admin API / CLI detail) and sessions replay read the same bytes.
      const detail = (await exchangeDetail(store, keyring, id2))!;
      assert.deepEqual(detail.client_request, JSON.parse(chat2.toString()));
      const up3 = (await exchangeDetail(store, keyring, id3))!;
      assert.deepEqual(up3.upstream_request, JSON.parse(masked.toString()));
      const [session] = await repo.sessions({ subject: 'alice' });
      const rec = (await loadSession({ store, repo, keyring, id: session!.id }))!;
      const out = new PassThrough();
      let text = '';
      out.on('data', (c: Buffer) => (text += c.toString()));
      await replaySession(rec, { out, speed: 1, wait: false, maxGapMs: 0 });
      assert.match(text, /assistant turn 1: The resolver/);
      assert.match(text, /tool_result/);

      const report = await verifyStore({ repo, now: clock.now() });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
    });

    it('scopes references to the caller and conversation: equal text, unrelated digests', async () => {
      const body = Buffer.from(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: filler(9, 'user') }] }));
      const a = await record({ body, session: 'conv-scope-a' });
      const b = await record({ body, session: 'conv-scope-b' });
      const c = await record({ body, session: 'conv-scope-a', subject: 'bob' });
      const [da, db, dc] = [await startDigests(a), await startDigests(b), await startDigests(c)];
      const refs = [da, db, dc].map((d) => d.messages!.added[0]![0]);
      const sealed = [da, db, dc].map((d) => d.messages!.added[0]![1]);
      assert.equal(new Set([da, db, dc].map((d) => d.messages!.scope)).size, 3);
      assert.equal(new Set(refs).size, 3, 'refs differ across conversations and callers');
      assert.equal(new Set(sealed).size, 3, 'ciphertexts differ too');
      // Without a conversation id the body is stored whole (no messages).
      const plain = await record({ body, session: null });
      assert.equal((await startDigests(plain)).messages, undefined);
      assert.ok((await clientBytes(plain)).equals(body));
    });

    it('exports bundles whose chained digests cover the skeleton and every message stored', async () => {
      const since = clock.now();
      const body = Buffer.from(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'system', content: filler(0, 'bundle') }, { role: 'user', content: filler(1, 'bundle') }] }));
      const id = await record({ body, session: 'conv-bundle', at: since + 10 });
      const bundle = await exportBundle({ repo, log, since, until: clock.now() + 1000, now: clock.now() + 2000 });
      const report = verifyBundle(JSON.parse(JSON.stringify(bundle)));
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      const entry = bundle.entries.find((e) => e.ref_id === id && e.kind === 'exchange.started')!;
      const digests = entry.payload.bodies as BodyDigests;
      const stored = (await store.exchanges.bodies(id))!;
      assert.equal(digests.client_request, sha256Hex(stored.clientRequest!));
      const messages = await store.exchanges.messages(digests.messages!.scope, digests.messages!.added.map((a) => a[0]));
      assert.deepEqual(messages.map((m) => sha256Hex(m.sealed)).sort(), digests.messages!.added.map((a) => a[1]).sort());
      // The pieces the bundle vouches for reassemble into the exact request.
      assert.ok((await clientBytes(id)).equals(body));
    });

    it('retention keeps messages a retained exchange references, then removes them behind tombstones', async () => {
      const base = t0 + 10 * DAY;
      const sys = { role: 'system', content: filler(0, 'retention') };
      const old = Buffer.from(JSON.stringify({ model: 'gpt-4o', messages: [sys, { role: 'user', content: filler(1, 'old') }] }));
      const recent = Buffer.from(JSON.stringify({ model: 'gpt-4o', messages: [sys, { role: 'user', content: filler(1, 'old') }, { role: 'user', content: filler(2, 'recent') }] }));
      const a = await record({ body: old, session: 'conv-retention', at: base });
      const b = await record({ body: recent, session: 'conv-retention', at: base + 2 * DAY });
      // Keep one day, run just after b: a's bodies go, b's stay — and so do the messages a stored first.
      const run1 = base + 2 * DAY + DAY / 2;
      clock.set(run1);
      await runRetention({ repo, log, now: run1, retention: { bodies_days: 1, metadata_days: 0, purge_interval_ms: 60_000 } });
      assert.equal((await store.exchanges.bodies(a))!.clientRequest, null);
      assert.ok((await clientBytes(b)).equals(recent));
      const r1 = await verifyStore({ repo, now: run1 });
      assert.equal(r1.ok, true, JSON.stringify(r1.problems));
      // Once the conversation's last exchange is past the cutoff, its messages go, each tombstoned by the run.
      const run2 = base + 4 * DAY;
      clock.set(run2);
      const res = await runRetention({ repo, log, now: run2, retention: { bodies_days: 1, metadata_days: 0, purge_interval_ms: 60_000 } });
      assert.ok((res.messagesPurged ?? 0) >= 3, JSON.stringify(res));
      const scope = (await startDigests(a)).messages!.scope;
      assert.deepEqual(await h.rows(`SELECT ref FROM exchange_messages WHERE scope = '${scope}'`), []);
      const r2 = await verifyStore({ repo, now: run2 });
      assert.equal(r2.ok, true, JSON.stringify(r2.problems));
      // A tombstone no run dated does not pass for a purge.
      const other = await record({ body: recent, session: 'conv-retention-2', at: run2 + 1000 });
      const d = await startDigests(other);
      await h.tamper(`DELETE FROM exchange_messages WHERE scope = '${d.messages!.scope}' AND ref = '${d.messages!.added[0]![0]}'`);
      await h.tamper(`INSERT INTO exchange_message_tombstones (scope, ref, purged_at) VALUES ('${d.messages!.scope}', '${d.messages!.added[0]![0]}', ${run2 + 5000})`);
      const r3 = await verifyStore({ repo, now: run2 + 6000 });
      assert.deepEqual(r3.problems.map((p) => p.code), ['tombstone_unaccounted']);
      await h.tamper(`DELETE FROM exchange_message_tombstones WHERE scope = '${d.messages!.scope}'`);
      await h.tamper(`DELETE FROM exchange_messages WHERE scope = '${d.messages!.scope}'`);
      // The recorder still takes that conversation's refs as stored: the store refuses the reuse, and the recorder
      // writes the exchange again with every message.
      await h.tamper(`DELETE FROM exchange_message_scopes WHERE scope = '${d.messages!.scope}'`);
      const again = await record({ body: recent, session: 'conv-retention-2', at: run2 + 7000 });
      assert.ok((await clientBytes(again)).equals(recent));
      assert.equal((await startDigests(again)).messages!.added.length, 3);
    });

    it('an agent session of 60 turns stores per turn at most twice what the turn added', async () => {
      const messages: { role: string; content: string }[] = [{ role: 'system', content: 'You are a coding agent. ' + 'Follow the repository conventions. '.repeat(40) }];
      const perTurn: { added: number; stored: number }[] = [];
      let previous = 0;
      for (let turn = 1; turn <= 60; turn++) {
        messages.push({ role: 'user', content: filler(turn, 'user') });
        const body = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', messages }));
        const id = await record({ body, session: 'conv-agent' });
        const d = await startDigests(id);
        const stored = (await store.exchanges.bodies(id))!.clientRequest!.length;
        const added = await store.exchanges.messages(d.messages!.scope, d.messages!.added.map((a) => a[0]));
        perTurn.push({ added: body.length - previous, stored: stored + added.reduce((s, m) => s + m.sealed.length + m.ref.length, 0) });
        previous = body.length;
        if (turn % 20 === 0) assert.ok((await clientBytes(id)).equals(body));
        messages.push({ role: 'assistant', content: filler(turn, 'assistant') });
      }
      assert.ok(previous > 100_000, `context grew to ${previous} bytes`);
      for (const [i, t] of perTurn.entries()) {
        if (i === 0) continue;
        assert.ok(t.stored <= 2 * t.added, `turn ${i + 1}: stored ${t.stored} bytes for ${t.added} added`);
      }
    });

    it('detects a stored message edited, swapped or removed', async () => {
      const body = Buffer.from(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: filler(1, 'tamper-a') }, { role: 'user', content: filler(2, 'tamper-b') }] }));
      const id = await record({ body, session: 'conv-tamper' });
      const d = await startDigests(id);
      const [[ref1], [ref2]] = d.messages!.added as [[string, string], [string, string]];
      const scope = d.messages!.scope;
      // Swap the two sealed messages: each still decrypts under its own key, but not under the other's AAD.
      await h.tamper(`UPDATE exchange_messages SET sealed = (SELECT sealed FROM exchange_messages WHERE scope = '${scope}' AND ref = '${ref2}') WHERE scope = '${scope}' AND ref = '${ref1}'`);
      const mine = async () => (await verifyStore({ repo, now: clock.now() })).problems.filter((p) => p.exchangeId === id);
      const r = await mine();
      assert.deepEqual(r.map((p) => `${p.code}@${p.exchangeId}`), [`body_modified@${id}`]);
      assert.match(r[0]!.message, new RegExp(`message ${ref1}`));
      await assert.rejects(clientBytes(id));
      await h.tamper(`DELETE FROM exchange_messages WHERE scope = '${scope}' AND ref = '${ref1}'`);
      assert.deepEqual((await mine()).map((p) => p.code), ['body_missing']);
      await assert.rejects(clientBytes(id), /not stored/);
    });
  });
}
