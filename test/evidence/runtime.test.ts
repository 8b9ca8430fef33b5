import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { createAuditRuntime, auditAdminAction, type AuditRuntime } from '../../src/audit/runtime.ts';
import type { AuditRepo } from '../../src/audit/repo.ts';
import { verifyStore } from '../../src/audit/verify-store.ts';
import { parseConfig } from '../../src/config/loader.ts';
import { eventually, finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { closeOpenFixtures, fixedClock, fixture, recordExchange, type Fixture } from './helpers.ts';

/**
 * A gateway whose store file is shared with the fixture (WAL). The gateway composes its own audit runtime (first
 * among the exchange observers, src/compose/evidence.ts); its chain is writer `gw-1`.
 */
async function gatewayWithAudit(): Promise<{ f: Fixture; rt: AuditRuntime; t: TestGateway }> {
  const master = randomBytes(32);
  const f = await fixture(master);
  const t = await startTestGateway({ storeUrl: `sqlite:${f.dbPath}`, masterKey: master.toString('base64'), extraYaml: 'audit:\n  writer_id: gw-1' });
  return { f, rt: t.gw.evidence.audit, t };
}

describe('audit runtime', () => {
  const open: TestGateway[] = [];
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
    await closeOpenFixtures();
  });
  after(closeOpenFixtures);

  it('chains every exchange of a real gateway (streamed and not) and the trail verifies', async () => {
    const { f, rt, t } = await gatewayWithAudit();
    open.push(t);
    const client = new OpenAI({ apiKey: t.userKey, baseURL: t.openaiBase, maxRetries: 0 });
    // An exchange is recorded (store row, then the observers' chain entry) after its response has reached the
    // client: wait for `exchange.finished` in the chain before the next step, so the order below is deterministic.
    const chained = (id: string) => eventually(async () => {
      const all = await f.repo.entries({ writer: 'gw-1', afterSeq: 0, limit: 100 });
      return all.some((e) => e.kind === 'exchange.finished' && e.refId === id) ? true : undefined;
    });
    const a = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    const idA = a.response.headers.get('x-portcullis-exchange-id')!;
    await chained(idA);
    const b = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'again' }] }).withResponse();
    let text = '';
    for await (const c of b.data) text += c.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    const idB = b.response.headers.get('x-portcullis-exchange-id')!;
    await chained(idB);
    assert.equal((await finishedExchange(t.gw, idB)).status, 'completed');
    await auditAdminAction(rt.log, { actor: 'root', action: 'keys.revoke', target: 'key_1' });
    await rt.log.checkpoint();
    const entries = await f.repo.entries({ writer: 'gw-1', afterSeq: 0, limit: 100 });
    assert.deepEqual(entries.map((e) => e.kind), ['exchange.started', 'exchange.finished', 'exchange.started', 'exchange.finished', 'admin.action']);
    assert.deepEqual(entries.slice(0, 4).map((e) => e.refId), [idA, idA, idB, idB]);
    const r = await verifyStore({ repo: f.repo, now: Date.now() });
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.bodies.checked, 4);
    assert.deepEqual(r.warnings, []);
    const sessions = await f.repo.sessions({});
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]!.exchangeCount, 2);
  });

  it('fails closed: when the chain cannot be appended, the request never reaches the provider', async () => {
    const { f, t } = await gatewayWithAudit();
    open.push(t);
    // The attack/fault: the audit table is gone (or the store refuses writes).
    f.tamper('DROP TABLE audit_entries');
    const client = new OpenAI({ apiKey: t.userKey, baseURL: t.openaiBase, maxRetries: 0 });
    const before = t.mock.received.length;
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'must not leave' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 503);
      return true;
    });
    assert.equal(t.mock.received.length, before);
    const rows = await t.gw.store.exchanges.list({});
    assert.equal(rows[0]!.status, 'failed');
    assert.equal(rows[0]!.errorCode, 'recording_failed');
  });

  it('retention job purges bodies per content class, chains the run, and the trail still verifies', async () => {
    const f = await fixture();
    const clock = fixedClock(Date.parse('2025-03-01T00:00:00Z'));
    const config = parseConfig('providers: [{ name: mock, type: mock }]\nroutes: [{ model: "*", provider: mock }]\naudit: { retention: { bodies_days: 30, metadata_days: 365 } }', 'x.yaml').audit;
    const rt = await createAuditRuntime({ repo: f.repo, keyring: f.keyring, clock, writerId: 'gw-r', config });
    const old = await recordExchange(f, { id: 'ex_old', at: clock.now() - 40 * 86_400_000 });
    const fresh = await recordExchange(f, { id: 'ex_new', at: clock.now() - 86_400_000 });
    for (const x of [old, fresh]) {
      await rt.observer.onStart!(x.start);
      await rt.observer.onFinish!(x.start, x.finish);
    }
    assert.deepEqual(await rt.purge(), { bodiesPurged: 1, exchangesDeleted: 0, heldPromptsPurged: 0, tombstones: 1 });
    assert.equal((await f.store.exchanges.bodies('ex_old'))!.clientRequest, null);
    assert.notEqual((await f.store.exchanges.bodies('ex_new'))!.clientRequest, null);
    await rt.close();
    const entries = await f.repo.entries({ writer: 'gw-r', afterSeq: 0, limit: 100 });
    assert.equal(entries.at(-1)!.kind, 'retention.purged');
    assert.equal(entries.at(-1)!.payload.bodies_purged, 1);
    const r = await verifyStore({ repo: f.repo, now: clock.now() });
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.bodies.purged, 2);
  });

  it('a retention run whose chain entry failed is chained before the next run; until then verify reports its tombstones', async () => {
    const f = await fixture();
    const clock = fixedClock(Date.parse('2025-03-01T00:00:00Z'));
    let refuse = true;
    const repo: AuditRepo = {
      ...f.repo,
      append: (writer, i) => (refuse && i.kind === 'retention.purged' ? Promise.reject(new Error('store unavailable')) : f.repo.append(writer, i)),
    };
    const config = parseConfig('providers: [{ name: mock, type: mock }]\nroutes: [{ model: "*", provider: mock }]\naudit: { retention: { bodies_days: 30 } }', 'x.yaml').audit;
    const rt = await createAuditRuntime({ repo, keyring: f.keyring, clock, writerId: 'gw-r', config });
    const old = await recordExchange(f, { id: 'ex_old', at: clock.now() - 40 * 86_400_000 });
    await rt.observer.onStart!(old.start);
    await rt.observer.onFinish!(old.start, old.finish);
    await assert.rejects(rt.purge(), /store unavailable/);
    assert.deepEqual((await verifyStore({ repo: f.repo, now: clock.now() })).problems.map((p) => p.code), ['tombstone_unaccounted']);
    refuse = false;
    clock.advance(3_600_000);
    assert.deepEqual(await rt.purge(), { bodiesPurged: 0, exchangesDeleted: 0, heldPromptsPurged: 0, tombstones: 0 }, 'nothing left to purge');
    await rt.close();
    const runs = (await f.repo.entries({ writer: 'gw-r', afterSeq: 0, limit: 100 })).filter((e) => e.kind === 'retention.purged');
    assert.deepEqual(runs.map((e) => [e.payload.purged_at, e.payload.tombstones]), [[Date.parse('2025-03-01T00:00:00Z'), 1]]);
    const r = await verifyStore({ repo: f.repo, now: clock.now() });
    assert.equal(r.ok, true, JSON.stringify(r.problems));
  });
});
