import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LIST_SCAN_MAX, visiblePage } from '../../src/admin/approval-routes.ts';
import { createApprovals, type ApprovalsModule } from '../../src/approvals/index.ts';
import type { ApprovalFilter, ApprovalRow } from '../../src/approvals/repo.ts';
import { compileApprovalRule } from '../../src/approvals/rule.ts';
import type { ApprovalAuditRecord, ApprovalService } from '../../src/approvals/service.ts';
import { SecretRefError } from '../../src/config/secrets.ts';
import { systemClock, type Clock } from '../../src/core/clock.ts';
import type { Principal } from '../../src/core/principal.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { sqliteApprovalRepo } from '../../src/store/sqlite/approvals.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';

const alice: Principal = { subject: 'user:alice', kind: 'user', displayName: 'alice', groups: ['eng'], roles: [], authMethod: 'api_key', credentialId: 'key_alice' };

/** createApprovals as the composition root calls it: webhook header secrets, the expiry sweeper's events. */
describe('approvals module', () => {
  let store: SqliteStore;
  const received: { path: string; headers: IncomingHttpHeaders }[] = [];
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers });
      res.writeHead(200).end();
    });
  });
  let receiverUrl = '';
  const dir = mkdtempSync(join(tmpdir(), 'pcl-appr-mod-'));
  const keyring = new Keyring(randomBytes(32));
  const modules: ApprovalsModule[] = [];

  before(async () => {
    store = await SqliteStore.open({ path: join(dir, 'db.sqlite'), synchronous: 'normal' });
    await new Promise<void>((ok) => receiver.listen(0, '127.0.0.1', ok));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const m of modules) await m.close();
    receiver.closeAllConnections();
    await new Promise<void>((ok) => receiver.close(() => ok()));
    await store.close();
  });

  const start = async (o: {
    webhooks?: { url: string; format: 'json' | 'slack'; headers?: Record<string, string> }[]; env?: NodeJS.ProcessEnv; emit?: (r: ApprovalAuditRecord) => void; clock?: Clock;
  }) => {
    const m = await createApprovals({
      repo: sqliteApprovalRepo(store), keyring, clock: o.clock ?? systemClock, publicUrl: () => 'https://pcl.example', emit: o.emit,
      config: { max_hold_seconds: 5, keep_alive_seconds: 1, poll_ms: 50, sweep_interval_seconds: 1, webhooks: o.webhooks ?? [] },
      baseDir: dir, env: o.env ?? {},
    });
    modules.push(m);
    return m;
  };
  const open = (m: ApprovalsModule, pendingSeconds = 60) => m.service.open({
    requirement: compileApprovalRule('r1', {
      mode: 'deferred', approver_groups: ['sec'], quorum: 1, scope: 'request', pending_expiry_seconds: pendingSeconds, justification_required: false, break_glass_groups: [],
    }), principal: alice, exchangeId: 'ex_1',
    endpoint: 'openai.chat', model: 'gpt-4o', policyVersion: 'v1', decisionId: 'd1', digest: randomBytes(8).toString('hex'), body: { model: 'gpt-4o' },
    findings: [], justification: null,
  });

  test('webhook header values are secret references: env:NAME, file:PATH (relative to the config), ${VAR}; literals stay literal', async () => {
    writeFileSync(join(dir, 'hook.secret'), 'from-a-file\n');
    const m = await start({
      env: { HOOK_SECRET: 'from-env', HOOK_TOKEN: 'tok-123' },
      webhooks: [{
        url: `${receiverUrl}/hook`, format: 'json',
        headers: { 'x-env': 'env:HOOK_SECRET', 'x-file': 'file:hook.secret', authorization: 'Bearer ${HOOK_TOKEN}', 'x-literal': 'plain' },
      }],
    });
    await open(m);
    await m.close();
    const hook = received.find((r) => r.path === '/hook');
    assert.ok(hook, 'delivered');
    assert.equal(hook.headers['x-env'], 'from-env');
    assert.equal(hook.headers['x-file'], 'from-a-file');
    assert.equal(hook.headers.authorization, 'Bearer tok-123');
    assert.equal(hook.headers['x-literal'], 'plain');
  });

  test('an unresolvable header reference fails the start, naming the header (never a value)', async () => {
    const hooks = (v: string) => [{ url: `${receiverUrl}/never`, format: 'json' as const, headers: { 'x-hook-secret': v } }];
    await assert.rejects(start({ webhooks: hooks('env:MISSING_HOOK_SECRET') }), (e: unknown) =>
      e instanceof SecretRefError && /approvals\.webhooks\[0\]\.headers\.x-hook-secret/.test(e.message) && /MISSING_HOOK_SECRET/.test(e.message));
    await assert.rejects(start({ webhooks: hooks('file:does-not-exist') }), SecretRefError);
    await assert.rejects(start({ webhooks: hooks('${ALSO_MISSING}') }), SecretRefError);
  });

  test('the sweeper emits approval.expired (actor system) for what it expires', async () => {
    const emitted: ApprovalAuditRecord[] = [];
    const clock = { t: Date.now(), now() { return this.t; }, mono() { return this.t; } };
    const m = await start({ emit: (r) => void emitted.push(r), clock });
    const row = await open(m, 10);
    clock.t += 11_000; // overdue; nothing reads it, so only the sweeper (every second) can expire it
    const deadline = Date.now() + 5000;
    while (!emitted.some((e) => e.refId === row.id && e.kind === 'approval.expired') && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 50));
    const expired = emitted.filter((e) => e.refId === row.id && e.kind === 'approval.expired');
    assert.equal(expired.length, 1);
    assert.equal(expired[0]!.subject, 'system');
    assert.equal(expired[0]!.payload.from, 'pending');
    assert.equal(expired[0]!.payload.requester, 'user:alice');
    const last = (await sqliteApprovalRepo(store).events(row.id)).at(-1);
    assert.deepEqual([last?.actor, last?.to], ['system', 'expired']);
  });
});

describe('approvals list paging', () => {
  const row = (i: number, approverGroups: string[]): ApprovalRow => ({
    id: `apr_${String(i).padStart(26, '0')}`, createdAt: 1_000_000 - i, approverGroups, requester: 'user:x',
  }) as ApprovalRow;
  const bob: Principal = { subject: 'user:bob', kind: 'user', displayName: 'bob', groups: ['sec'], roles: [], authMethod: 'api_key', credentialId: 'k' };
  const fake = (rows: ApprovalRow[]) => {
    const calls: ApprovalFilter[] = [];
    const service = {
      async list(f: ApprovalFilter) {
        calls.push(f);
        const after = f.before ? rows.filter((r) => r.createdAt < f.before!.createdAt || (r.createdAt === f.before!.createdAt && r.id < f.before!.id)) : rows;
        return after.slice(0, f.limit);
      },
    } as unknown as ApprovalService;
    return { service, calls };
  };

  test('visible rows behind many invisible ones still fill the page', async () => {
    const rows = [...Array.from({ length: 700 }, (_, i) => row(i, ['legal'])), row(700, ['sec']), row(701, ['sec'])];
    const { service } = fake(rows);
    const page = await visiblePage(service, bob, {}, 1);
    assert.deepEqual(page.rows.map((r) => r.id), [rows[700]!.id]);
    assert.equal(page.next, rows[700]!.id);
    const more = await visiblePage(service, bob, { before: { createdAt: rows[700]!.createdAt, id: rows[700]!.id } }, 10);
    assert.deepEqual(more.rows.map((r) => r.id), [rows[701]!.id]);
    assert.equal(more.next, null, 'the approvals ran out');
  });

  test(`bounded: at most ${LIST_SCAN_MAX} approvals read per call; next_before continues from the last one read`, async () => {
    const rows = Array.from({ length: LIST_SCAN_MAX + 300 }, (_, i) => row(i, ['legal']));
    rows.push(row(LIST_SCAN_MAX + 300, ['sec']));
    const { service, calls } = fake(rows);
    const page = await visiblePage(service, bob, {}, 5);
    assert.deepEqual(page.rows, []);
    assert.equal(calls.reduce((n, c) => n + c.limit!, 0) <= LIST_SCAN_MAX, true);
    assert.equal(page.next, rows[LIST_SCAN_MAX - 1]!.id);
    const rest = await visiblePage(service, bob, { before: { createdAt: rows[LIST_SCAN_MAX - 1]!.createdAt, id: page.next } }, 5);
    assert.deepEqual(rest.rows.map((r) => r.id), [rows.at(-1)!.id]);
  });
});
