import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { createAuditRuntime, auditAdminAction, type AuditRuntime } from '../../src/audit/runtime.ts';
import { verifyStore } from '../../src/audit/verify-store.ts';
import { parseConfig } from '../../src/config/loader.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { closeOpenFixtures, fixedClock, fixture, recordExchange, type Fixture } from './helpers.ts';

/** A gateway whose store file is shared with the fixture (WAL), with the audit runtime as its first observer. */
async function gatewayWithAudit(): Promise<{ f: Fixture; rt: AuditRuntime; t: TestGateway }> {
  const master = randomBytes(32);
  const f = await fixture(master);
  const rt = await createAuditRuntime({ repo: f.repo, keyring: f.keyring, clock: { now: Date.now, mono: () => performance.now() }, writerId: 'gw-1' });
  const t = await startTestGateway({ storeUrl: `sqlite:${f.dbPath}`, masterKey: master.toString('base64'), observers: [rt.observer] });
  return { f, rt, t };
}

describe('audit runtime', () => {
  const open: { rt: AuditRuntime; t: TestGateway }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      await o.t.close();
      await o.rt.close().catch(() => undefined);
    }
    await closeOpenFixtures();
  });
  after(closeOpenFixtures);

  it('chains every exchange of a real gateway (streamed and not) and the trail verifies', async () => {
    const { f, rt, t } = await gatewayWithAudit();
    open.push({ rt, t });
    const client = new OpenAI({ apiKey: t.userKey, baseURL: t.openaiBase, maxRetries: 0 });
    const a = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'again' }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    const idA = a.response.headers.get('x-portcullis-exchange-id')!;
    await finishedExchange(t.gw, idA);
    await auditAdminAction(rt.log, { actor: 'root', action: 'keys.revoke', target: 'key_1' });
    await rt.log.checkpoint();
    const entries = await f.repo.entries({ writer: 'gw-1', afterSeq: 0, limit: 100 });
    assert.deepEqual(entries.map((e) => e.kind), ['exchange.started', 'exchange.finished', 'exchange.started', 'exchange.finished', 'admin.action']);
    assert.equal(entries[0]!.refId, idA);
    const r = await verifyStore({ repo: f.repo, now: Date.now() });
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.bodies.checked, 4);
    assert.deepEqual(r.warnings, []);
    const sessions = await f.repo.sessions({});
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]!.exchangeCount, 2);
  });

  it('fails closed: when the chain cannot be appended, the request never reaches the provider', async () => {
    const { f, rt, t } = await gatewayWithAudit();
    open.push({ rt, t });
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
    assert.deepEqual(await rt.purge(), { bodiesPurged: 1, exchangesDeleted: 0 });
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
});
