import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApprovalService, approvalAad, type ApprovalAuditRecord } from '../../src/approvals/service.ts';
import type { ApprovalRepo, ApprovalRow } from '../../src/approvals/repo.ts';
import { compileApprovalRule, type ApprovalRuleSpec } from '../../src/approvals/rule.ts';
import { requestDigest } from '../../src/approvals/state.ts';
import { GatewayError } from '../../src/core/errors.ts';
import type { Principal } from '../../src/core/principal.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { sqliteApprovalRepo } from '../../src/store/sqlite/approvals.ts';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { postgresApprovalRepo } from '../../src/store/postgres/approvals.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

const person = (name: string, groups: string[]): Principal => ({
  subject: `user:${name}`, kind: 'user', displayName: name, groups, roles: [], authMethod: 'api_key', credentialId: `key_${name}`,
});
const alice = person('alice', ['eng']);
const bob = person('bob', ['sec']);
const carol = person('carol', ['legal']);
const dave = person('dave', ['sec', 'legal']);
const mallory = person('mallory', ['eng']);

const spec = (o: Partial<ApprovalRuleSpec> = {}): ApprovalRuleSpec => ({
  mode: 'hold', approver_groups: ['sec'], quorum: 1, scope: 'request', pending_expiry_seconds: 60, justification_required: false, break_glass_groups: [], ...o,
});

interface Engine {
  name: string;
  open(): Promise<{ repo: ApprovalRepo; close(): Promise<void>; reopen?(): Promise<{ repo: ApprovalRepo; close(): Promise<void> }> }>;
}

let pgServer: TestPostgres | undefined;
before(async () => {
  pgServer = await startTestPostgres();
});
after(async () => {
  await pgServer?.stop();
});

const engines: Engine[] = [
  {
    name: 'sqlite',
    async open() {
      const path = join(mkdtempSync(join(tmpdir(), 'pcl-appr-')), 'db.sqlite');
      const store = await SqliteStore.open({ path, synchronous: 'normal' });
      return {
        repo: sqliteApprovalRepo(store), close: () => store.close(),
        async reopen() {
          await store.close();
          const again = await SqliteStore.open({ path, synchronous: 'normal' });
          return { repo: sqliteApprovalRepo(again), close: () => again.close() };
        },
      };
    },
  },
  {
    name: 'postgres',
    async open() {
      const store = await PostgresStore.open(pgServer!.url);
      return {
        repo: postgresApprovalRepo(store), close: () => store.close(),
        async reopen() {
          await store.close();
          const again = await PostgresStore.open(pgServer!.url);
          return { repo: postgresApprovalRepo(again), close: () => again.close() };
        },
      };
    },
  },
];

for (const engine of engines) {
  describe(`approval service on ${engine.name}`, () => {
    let h: Awaited<ReturnType<Engine['open']>>;
    let service: ApprovalService;
    const events: ApprovalAuditRecord[] = [];
    const clock = { t: Date.UTC(2026, 0, 1), now() { return this.t; }, mono() { return this.t; } };
    const keyring = new Keyring(randomBytes(32));
    const make = (repo: ApprovalRepo) => new ApprovalService({ repo, keyring, clock, publicUrl: 'https://pcl.example', emit: (e) => void events.push(e), pollMs: 10 });

    before(async () => {
      h = await engine.open();
      service = make(h.repo);
    });
    after(async () => {
      await h.close();
    });

    const open = (o: Partial<ApprovalRuleSpec> = {}, who: Principal = alice, body: unknown = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }) =>
      service.open({
        requirement: compileApprovalRule('r1', spec(o)), principal: who, exchangeId: 'ex_1', endpoint: 'openai.chat', model: 'gpt-4o',
        policyVersion: 'v1', decisionId: 'dec_1', digest: requestDigest({ endpoint: 'openai.chat', body, subject: who.subject, policyVersion: 'v1', ruleId: 'r1' }),
        body, findings: [], justification: 'need it',
      });
    const refusedWith = async (p: Promise<unknown>, code: string): Promise<void> => {
      await assert.rejects(p, (e: unknown) => e instanceof GatewayError && e.code === code);
    };

    test('approve: pending → approved → executed, each step recorded with actor, time, reason and emitted', async () => {
      const row = await open();
      assert.equal(row.state, 'pending');
      assert.equal(keyring.open('approvals', row.sealedRequest!, approvalAad(row.id)).toString(), JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
      const approved = await service.decide({ id: row.id, actor: bob, verdict: 'approve', reason: 'looks fine' });
      assert.equal(approved.state, 'approved');
      assert.equal(approved.decidedBy, 'user:bob');
      assert.equal(await service.consume(approved, alice.subject), true);
      assert.equal(await service.consume(approved, alice.subject), false, 'a one-request approval is spent once');
      const ev = await h.repo.events(row.id);
      assert.deepEqual(ev.map((e) => [e.action, e.from, e.to, e.actor]), [
        ['created', null, 'pending', 'user:alice'], ['vote:approve', null, null, 'user:bob'], ['transition', 'pending', 'approved', 'user:bob'],
        ['transition', 'approved', 'executed', 'user:alice'],
      ]);
      assert.ok(ev.every((e) => e.at === clock.t));
      assert.deepEqual(events.filter((e) => e.refId === row.id).map((e) => e.kind), ['approval.requested', 'approval.vote_approve', 'approval.approved', 'approval.executed']);
    });

    test('attacks: self-approval, outsider, double vote, decision after the end — each refused and recorded', async () => {
      const row = await open({ quorum: 2, approver_groups: ['sec', 'legal'] });
      await refusedWith(service.decide({ id: row.id, actor: alice, verdict: 'approve', reason: null }), 'forbidden');
      await refusedWith(service.decide({ id: row.id, actor: mallory, verdict: 'approve', reason: null }), 'forbidden');
      await service.decide({ id: row.id, actor: bob, verdict: 'approve', reason: null });
      await refusedWith(service.decide({ id: row.id, actor: bob, verdict: 'approve', reason: null }), 'conflict');
      assert.equal((await service.get(row.id))!.state, 'pending', 'one vote of two');
      await service.decide({ id: row.id, actor: carol, verdict: 'approve', reason: null });
      await refusedWith(service.decide({ id: row.id, actor: dave, verdict: 'deny', reason: null }), 'conflict');
      const actions = (await h.repo.events(row.id)).map((e) => e.action);
      for (const a of ['refused:self_approval', 'refused:not_an_approver', 'refused:already_voted', 'refused:not_pending']) assert.ok(actions.includes(a), a);
      assert.equal((await service.get(row.id))!.state, 'approved');
    });

    test('a requester who is also an approver still cannot approve their own request', async () => {
      const row = await open({}, person('eve', ['sec']));
      await refusedWith(service.decide({ id: row.id, actor: person('eve', ['sec']), verdict: 'approve', reason: null }), 'forbidden');
    });

    test('quorum each_group: one person in both groups is not enough', async () => {
      const row = await open({ quorum: 'each_group', approver_groups: ['sec', 'legal'] });
      await service.decide({ id: row.id, actor: dave, verdict: 'approve', reason: null });
      assert.equal((await service.get(row.id))!.state, 'pending');
      await service.decide({ id: row.id, actor: bob, verdict: 'approve', reason: null });
      assert.equal((await service.get(row.id))!.state, 'approved', 'dave covers legal, bob covers sec');
    });

    test('one deny decides', async () => {
      const row = await open({ quorum: 2 });
      const denied = await service.decide({ id: row.id, actor: bob, verdict: 'deny', reason: 'no customer data' });
      assert.equal(denied.state, 'denied');
      assert.equal(denied.reason, 'no customer data');
      assert.equal(await service.consume(denied, alice.subject), false);
    });

    test('expiry: no approval after the pending expiry; an unused approval lapses too', async () => {
      const row = await open({ pending_expiry_seconds: 10 });
      clock.t += 11_000;
      await refusedWith(service.decide({ id: row.id, actor: bob, verdict: 'approve', reason: null }), 'conflict');
      const after = await service.get(row.id);
      assert.equal(after!.state, 'expired');
      assert.ok((await h.repo.events(row.id)).some((e) => e.action === 'refused:expired'));
      const row2 = await open({ pending_expiry_seconds: 10 });
      await service.decide({ id: row2.id, actor: bob, verdict: 'approve', reason: null });
      clock.t += 61_000;
      const row3 = await open({ pending_expiry_seconds: 10 });
      clock.t += 11_000;
      const swept = await service.expireDue();
      assert.ok(swept.includes(row2.id) && swept.includes(row3.id));
      assert.equal((await service.get(row2.id))!.state, 'expired');
      // The sweeper's expiries are emitted like every other transition (audit chain, SIEM), once each.
      for (const [r, from] of [[row2, 'approved'], [row3, 'pending']] as const) {
        const expired = events.filter((e) => e.refId === r.id && e.kind === 'approval.expired');
        assert.equal(expired.length, 1, `${from}: one approval.expired`);
        assert.equal(expired[0]!.subject, 'system');
        assert.deepEqual({ from: expired[0]!.payload.from, state: expired[0]!.payload.state, rule: expired[0]!.payload.rule_id }, { from, state: 'expired', rule: 'r1' });
      }
      assert.deepEqual(await service.expireDue(), [], 'nothing left; nothing emitted twice');
      assert.equal(events.filter((e) => e.refId === row2.id && e.kind === 'approval.expired').length, 1);
    });

    test('list pages with a keyset cursor (created_at, id), newest first', async () => {
      const made: ApprovalRow[] = [];
      for (let i = 0; i < 3; i++) made.push(await open({}, person('pager', ['eng']), { n: i }));
      clock.t += 1;
      made.push(await open({}, person('pager', ['eng']), { n: 3 }));
      const ids = made.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).map((r) => r.id);
      const all = await service.list({ requester: 'user:pager', limit: 10 });
      assert.deepEqual(all.map((r) => r.id), ids);
      const first = await service.list({ requester: 'user:pager', limit: 2 });
      assert.deepEqual(first.map((r) => r.id), ids.slice(0, 2));
      const last = first.at(-1)!;
      const rest = await service.list({ requester: 'user:pager', limit: 10, before: { createdAt: last.createdAt, id: last.id } });
      assert.deepEqual(rest.map((r) => r.id), ids.slice(2), 'same-millisecond approvals are ordered by id, none skipped or repeated');
    });

    test('list by creation time range [since, until) and by model: the approvals a usage bucket counts', async () => {
      const at: ApprovalRow[] = [];
      for (let i = 0; i < 3; i++) {
        at.push(await open({}, person('ranger', ['eng']), { n: i }));
        clock.t += 10;
      }
      const t0 = at[0]!.createdAt;
      const ids = async (f: Partial<Parameters<typeof service.list>[0]>) => (await service.list({ requester: 'user:ranger', limit: 10, ...f })).map((r) => r.id);
      assert.deepEqual(await ids({ createdSince: t0 + 10, createdUntil: t0 + 20 }), [at[1]!.id], 'since inclusive, until exclusive');
      assert.deepEqual(await ids({ createdSince: t0 + 10 }), [at[2]!.id, at[1]!.id]);
      assert.deepEqual(await ids({ createdUntil: t0 + 10 }), [at[0]!.id]);
      assert.deepEqual(await ids({ model: 'gpt-4o', createdSince: t0 + 20 }), [at[2]!.id]);
      assert.deepEqual(await ids({ model: 'another-model' }), []);
      // By outcome, as usage analytics counts it: an approved one stays "approved" once executed.
      await service.decide({ id: at[0]!.id, actor: bob, verdict: 'approve', reason: null });
      await service.decide({ id: at[1]!.id, actor: bob, verdict: 'deny', reason: 'no' });
      assert.equal(await service.consume((await service.get(at[0]!.id))!, 'user:ranger'), true);
      assert.equal((await service.get(at[0]!.id))!.state, 'executed');
      assert.deepEqual(await ids({ outcome: 'approved' }), [at[0]!.id]);
      assert.deepEqual(await ids({ state: 'approved' }), [], 'the state filter alone would miss it');
      assert.deepEqual(await ids({ outcome: 'denied' }), [at[1]!.id]);
      assert.deepEqual(await ids({ outcome: 'expired' }), []);
      assert.deepEqual(await ids({ state: 'pending' }), [at[2]!.id]);
    });

    test('cancel only from pending; illegal transitions are refused by the store', async () => {
      const row = await open();
      assert.equal(await service.cancel(row.id, alice.subject, 'client disconnected'), true);
      assert.equal(await service.cancel(row.id, alice.subject, 'again'), false);
      assert.equal(await h.repo.transition({ id: row.id, from: ['pending'], to: 'approved', at: clock.t, actor: 'x', reason: null }), false);
      await refusedWith(service.decide({ id: row.id, actor: bob, verdict: 'approve', reason: null }), 'conflict');
    });

    test('window grants cover requester × rule × model until they end', async () => {
      const row = await open({ scope: 'window', window_seconds: 600 });
      await service.decide({ id: row.id, actor: bob, verdict: 'approve', reason: null });
      // The approved record says when the window ends (the SIEM's approval.decided window_ends_at).
      const approved = events.find((e) => e.kind === 'approval.approved' && e.refId === row.id);
      assert.equal(approved?.payload.expires_at, clock.t + 600_000);
      assert.equal((await service.activeGrant({ requester: alice.subject, ruleId: 'r1', model: 'gpt-4o' }))?.id, row.id);
      assert.equal(await service.activeGrant({ requester: mallory.subject, ruleId: 'r1', model: 'gpt-4o' }), undefined);
      assert.equal(await service.activeGrant({ requester: alice.subject, ruleId: 'r1', model: 'gpt-4.1' }), undefined);
      clock.t += 601_000;
      assert.equal(await service.activeGrant({ requester: alice.subject, ruleId: 'r1', model: 'gpt-4o' }), undefined);
    });

    test('a held waiter wakes on a decision; state survives a restart of the store', async () => {
      const row = await open();
      const waiting = service.waitForDecision(row.id, { deadline: clock.t + 60_000, keepAliveMs: 1000 });
      await service.decide({ id: row.id, actor: bob, verdict: 'approve', reason: null });
      const r = await waiting;
      assert.ok(typeof r === 'object' && r.state === 'approved');
      const pending = await open({}, alice, { model: 'gpt-4o', messages: [{ role: 'user', content: 'other' }] });
      h = await h.reopen!();
      service = make(h.repo);
      const again = await service.forDigest(pending.digest, alice.subject);
      assert.equal(again[0]?.id, pending.id);
      assert.equal(again[0]?.state, 'pending');
      await service.decide({ id: pending.id, actor: bob, verdict: 'approve', reason: 'after restart' });
      assert.equal((await service.get(pending.id))!.state, 'approved');
    });
  });
}
