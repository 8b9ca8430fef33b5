import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openAuditRepo } from '../../src/store/audit-repo.ts';
import { formatToken, hashSecret, mintSecret, newSessionId } from '../../src/identity/tokens/format.ts';
import { openIdentityRepo } from '../../src/store/identity-repo.ts';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { startFleet, type Fleet } from '../helpers/fleet.ts';
import { adminApi, chat, mintUserKey, openStream, sdk, until, withDb } from './client.ts';
import { chainEntriesFor, verifiedTrail } from './trail.ts';

/**
 * The fleet, every part real (docs/fleet.md): three `portcullis serve` processes on one PostgreSQL database,
 * behind nginx, reaching PostgreSQL through a TCP proxy that can go silent or drop every connection. Bounds used
 * here are the configured ones below; each wait allows generous slack for a loaded two-core machine.
 */
const LEASE = { heartbeat_interval_ms: 250, ttl_ms: 2_000 };
const PG = { connect_timeout_ms: 2_000, query_timeout_ms: 4_000, statement_timeout_ms: 4_000 };
const SLACK_MS = 15_000;
// The polling fallbacks are set far beyond the waits below: what these tests see arrive was pushed (LISTEN/NOTIFY).
const KEY_CACHE_TTL_MS = 600_000;
const POLICY_POLL_MS = 600_000;
const APPROVALS_POLL_MS = 10_000;
const TOKEN_CACHE_TTL_MS = 60_000;
const PUSH_WAIT_MS = 8_000;
// Per test, above npm test's default: each replica (re)start is a process start, slow on a loaded machine.
const SLOW = { timeout: 600_000 };

describe('fleet: three replicas on one PostgreSQL behind nginx', () => {
  let fleet: Fleet;
  let user: { id: string; key: string };
  before(async () => {
    fleet = await startFleet({
      replicas: 3, mock: { chunks: 100, chunkDelayMs: 50, record: true }, logLevel: 'warn',
      storeKeys: { lease: LEASE, postgres: PG }, server: { shutdown_grace_ms: 20_000 }, auth: { key_cache_ttl_ms: KEY_CACHE_TTL_MS },
      extraYaml: `policy:\n  poll_interval_ms: ${POLICY_POLL_MS}\napprovals:\n  poll_ms: ${APPROVALS_POLL_MS}\n`
        + `identity:\n  tokens:\n    cache_ttl_ms: ${TOKEN_CACHE_TTL_MS}\n`,
    });
    user = await mintUserKey(fleet.replicas[0]!.url, fleet.adminKey, 'fleet-user');
  }, SLOW);
  after(async () => {
    await fleet?.close();
  }, SLOW);

  const url = (i: number): string => fleet.replicas[i]!.url;
  const logsOf = (i: number): string => fleet.replicas[i]!.logs().slice(-3000);

  it('kill -9 mid-stream: the dead replica\'s exchanges are recorded interrupted exactly once, chained by a live one; the others\' are untouched', SLOW, async () => {
    const victims = await Promise.all([openStream(url(1), user.key, 'victim one'), openStream(url(1), user.key, 'victim two')]);
    const survivors = await Promise.all([openStream(url(0), user.key, 'survivor zero'), openStream(url(2), user.key, 'survivor two')]);
    const inFlight = await withDb(fleet.directStoreUrl, async (c) => (await c.query<{ status: string }>('SELECT status FROM exchanges WHERE id = ANY($1)', [victims.map((v) => v.id)])).rows.map((r) => r.status));
    assert.deepEqual(inFlight, ['in_progress', 'in_progress'], 'the victims are still streaming when the replica is killed');
    await fleet.kill(1);
    try {
      await checkRecovery(victims, survivors);
    } finally {
      await fleet.restart(1);
    }
  });

  async function checkRecovery(victims: { id: string; rest(): Promise<string> }[], survivors: { id: string; rest(): Promise<string> }[]): Promise<void> {
    // The killed replica's clients see their connection end (the SDK may end the iteration or throw).
    for (const v of victims) await v.rest().catch(() => undefined);
    for (const s of survivors) assert.match(await s.rest(), /survivor/, 'streams on live replicas complete');
    const rows = await until('the killed replica\'s exchanges recovered', LEASE.ttl_ms + SLACK_MS, () => withDb(fleet.directStoreUrl, async (c) => {
      const r = await c.query<{ id: string; status: string; error_code: string | null }>('SELECT id, status, error_code FROM exchanges WHERE id = ANY($1)', [victims.map((v) => v.id)]);
      return r.rows.every((x) => x.status !== 'in_progress') && r.rows.length === victims.length ? r.rows : undefined;
    }));
    for (const r of rows) assert.deepEqual([r.status, r.error_code], ['incomplete', 'replica_lost'], `exchange ${r.id} (all: ${JSON.stringify(rows)})\n${logsOf(0)}\n${logsOf(2)}`);
    for (const v of victims) {
      // The recoverer chains the end right after its conditional write.
      const chain = await until(`the end of ${v.id} chained`, SLACK_MS, async () => {
        const c = await chainEntriesFor(fleet.directStoreUrl, v.id);
        return c.length >= 2 ? c : undefined;
      }, () => `${logsOf(0)}\n${logsOf(2)}`);
      assert.deepEqual(chain.map((e) => e.kind), ['exchange.started', 'exchange.finished'], `one start and one end chained: ${JSON.stringify(chain)}`);
      assert.equal(chain[0]!.writer, 'fleet-1');
      assert.ok(['fleet-0', 'fleet-2'].includes(chain[1]!.writer), `the end is chained by a live replica, not ${chain[1]!.writer}`);
    }
    for (const s of survivors) {
      const chain = await chainEntriesFor(fleet.directStoreUrl, s.id);
      assert.deepEqual(chain.map((e) => [e.kind, e.status]), [['exchange.started', null], ['exchange.finished', 'completed']], `survivor ${s.id}: ${JSON.stringify(chain)}`);
    }
  }

  it('a key revoked through one replica is refused by the others at once (pushed, not waiting for their key cache)', SLOW, async () => {
    const k = await mintUserKey(url(0), fleet.adminKey, 'to-revoke');
    for (const i of [0, 1, 2]) assert.equal((await chat(url(i), k.key)).status, 200, `replica ${i} accepts the new key (and caches it)`);
    const revoked = await adminApi(url(0), fleet.adminKey, 'DELETE', `/admin/v1/keys/${k.id}`);
    assert.equal(revoked.status, 200);
    for (const i of [1, 2]) {
      let last = '';
      await until(`replica ${i} refuses the revoked key`, PUSH_WAIT_MS, async () => {
        const r = await chat(url(i), k.key);
        last = `${r.status} ${r.code ?? ''}`;
        return r.status === 401 ? true : undefined;
      }, () => last);
    }
  });

  it('a login token revoked through one replica is refused by the others at once (pushed, not waiting for their token cache)', SLOW, async () => {
    // A session as `portcullis login` leaves it, written straight into the shared database (no IdP in this suite).
    const sessionId = newSessionId();
    const secret = mintSecret();
    const token = formatToken('access', sessionId, secret);
    const store = await PostgresStore.open(fleet.directStoreUrl);
    try {
      const now = Date.now();
      await openIdentityRepo(store).createSession({
        id: sessionId, subject: 'user:fleet-login', kind: 'user', displayName: 'fleet-login', groups: [], claims: {}, source: 'oidc:test',
        authMethod: 'session_token', accessHash: hashSecret(secret), accessExpiresAt: now + 3_600_000, prevAccessHash: null, prevAccessExpiresAt: null,
        refreshHash: null, idpRefresh: null, createdAt: now, refreshedAt: null, expiresAt: now + 3_600_000, revokedAt: null, revokedReason: null,
      });
    } finally {
      await store.close();
    }
    for (const i of [0, 1, 2]) assert.equal((await chat(url(i), token)).status, 200, `replica ${i} accepts the login token (and caches it)`);
    // RFC 7009 revocation by its holder, through replica 0 only.
    const revoked = await fetch(`${url(0)}/auth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) });
    assert.equal(revoked.status, 200);
    for (const i of [1, 2]) {
      let last = '';
      await until(`replica ${i} refuses the revoked login token`, PUSH_WAIT_MS, async () => {
        const r = await chat(url(i), token);
        last = `${r.status} ${r.code ?? ''}`;
        return r.status === 401 ? true : undefined;
      }, () => last);
    }
  });

  it('a policy activated through one replica governs the others at once (pushed); an approval decided on one releases a request held on another; budgets are exact across replicas', SLOW, async () => {
    const policy = `version: 1
rules:
  - id: eng
    effect: allow
    subjects: { groups: [eng] }
    resources: { models: ["gpt-4o", "gpt-4o-mini"] }
  - id: hold-gpt-4-1
    effect: require_approval
    subjects: { groups: [eng] }
    resources: { models: ["gpt-4.1"] }
    approval: { approver_groups: [sec], mode: hold, quorum: 1 }
budgets:
  window: fixed
  limits:
    - { id: fleet-rpm, per: user, match: { groups: [eng] }, requests_per_minute: 12 }
`;
    for (const i of [0, 1, 2]) assert.equal((await chat(url(i), user.key, 'gpt-3.5-turbo')).status, 200, `replica ${i}: no policy yet, open`);
    const pushed = await adminApi(url(0), fleet.adminKey, 'POST', '/admin/v1/policies', { source: policy, message: 'fleet' });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
    assert.equal((await adminApi(url(0), fleet.adminKey, 'POST', `/admin/v1/policies/${String(pushed.json.id)}/activate`, {})).status, 200);
    for (const i of [1, 2]) {
      let last = '';
      await until(`replica ${i} enforces the activated policy`, PUSH_WAIT_MS, async () => {
        const r = await chat(url(i), user.key, 'gpt-3.5-turbo');
        last = `${r.status} ${r.code ?? ''}`;
        return r.status === 400 ? true : undefined; // a policy refusal on an OpenAI path (docs/api.md#refusals-and-client-retries)
      }, () => last);
    }
    // Held on replica 2, approved through replica 0.
    const approver = await adminApi(url(0), fleet.adminKey, 'POST', '/admin/v1/keys', { name: 'approver', groups: ['sec'] });
    const approverKey = String(approver.json.key);
    const held = chat(url(2), user.key, 'gpt-4.1');
    const approvalId = await until('the held request\'s approval is pending', SLACK_MS, async () => {
      const r = await adminApi(url(0), approverKey, 'GET', '/admin/v1/approvals?state=pending');
      return (r.json.data as { id: string; requester: string }[] | undefined)?.find((a) => a.requester === 'user:fleet-user')?.id;
    });
    const decided = await adminApi(url(0), approverKey, 'POST', `/admin/v1/approvals/${approvalId}/approve`, { reason: 'fleet' });
    assert.equal(decided.status, 200, JSON.stringify(decided.json));
    const released = await Promise.race([held, new Promise<'still held'>((ok) => setTimeout(() => ok('still held'), PUSH_WAIT_MS).unref())]);
    assert.notEqual(released, 'still held', `the request held on replica 2 was not released within ${PUSH_WAIT_MS} ms (approvals.poll_ms ${APPROVALS_POLL_MS})`);
    assert.equal((released as { status: number }).status, 200, JSON.stringify(released));
    // A fresh identity (its own counter), and not across a minute boundary (the window is fixed per minute).
    const burst = await mintUserKey(url(0), fleet.adminKey, 'burst');
    const msLeft = 60_000 - (Date.now() % 60_000);
    if (msLeft < 20_000) await new Promise((ok) => setTimeout(ok, msLeft + 100));
    const targets = [...Array(36).keys()].map((n) => (n % 4 === 3 ? fleet.lb!.url : url(n % 3)));
    const results = await Promise.all(targets.map((t) => chat(t, burst.key, 'gpt-4o-mini')));
    const by = (s: number): number => results.filter((r) => r.status === s).length;
    assert.equal(by(200), 12, `exactly the budget passes across three replicas: ${JSON.stringify(results.map((r) => `${r.status} ${r.code ?? ''}`))}`);
    assert.equal(by(429), 24);
    await adminApi(url(0), fleet.adminKey, 'POST', '/admin/v1/policies/rollback', {});
  });

  it('the database goes silent (partition): requests fail closed with 503 in the caller\'s protocol, /readyz says not ready, both recover', SLOW, async () => {
    const before = fleet.upstream.mock!.received.length;
    fleet.dbProxy!.setMode('silent');
    try {
      const fresh = `pcl_${'0'.repeat(8)}_${'x'.repeat(43)}`; // unknown: needs the store
      for (const key of [user.key, fresh]) {
        const r = await chat(url(2), key);
        assert.equal(r.status, 503, `while the database is silent: ${JSON.stringify(r.body)}`);
        // Whichever store call meets the partition first: authentication, the budget check of the active policy, the record.
        assert.ok(['store_unavailable', 'evaluation_error', 'recording_failed'].includes(r.code ?? ''), `error code ${r.code}`);
        assert.equal(typeof (r.body.error as { message?: unknown }).message, 'string', 'OpenAI-shaped error');
      }
      assert.equal(fleet.upstream.mock!.received.length, before, 'nothing went upstream unrecorded');
      const ready = await fetch(`${url(2)}/readyz`);
      assert.equal(ready.status, 503);
    } finally {
      fleet.dbProxy!.setMode('pass');
    }
    for (const i of [0, 1, 2]) {
      let last = '';
      await until(`replica ${i} serves again after the partition`, SLACK_MS * 2, async () => {
        const r = await chat(url(i), user.key);
        last = `${r.status} ${r.code ?? ''}`;
        return r.status === 200 ? true : undefined;
      }, () => `${last}\n${logsOf(i)}`);
    }
  });

  it('the database restarts (every connection dropped, refused, then back): 503 meanwhile, then every replica recovers', SLOW, async () => {
    fleet.dbProxy!.setMode('drop-all');
    try {
      const r = await chat(url(0), user.key);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal((await fetch(`${url(0)}/readyz`)).status, 503);
    } finally {
      fleet.dbProxy!.setMode('pass');
    }
    for (const i of [0, 1, 2]) {
      let last = '';
      await until(`replica ${i} ready after the database came back`, SLACK_MS * 2, async () => {
        const r = await chat(url(i), user.key);
        last = `${r.status} ${r.code ?? ''}`;
        return r.status === 200 && (await fetch(`${url(i)}/readyz`)).status === 200 ? true : undefined;
      }, () => `${last}\n${logsOf(i)}`);
    }
  });

  it('rolling restart under streamed load through nginx: no stream is cut, no record is lost, the trail verifies with one chain per writer', SLOW, async (t) => {
    let rolling = true;
    const ids: string[] = [];
    const failures: string[] = [];
    const client = sdk(fleet.lb!.url, user.key, 3); // retries what a draining replica refused before doing anything
    const load = async (n: number): Promise<void> => {
      while (rolling) {
        try {
          const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: `load ${n}` }] }).withResponse();
          let text = '';
          for await (const c of data) text += c.choices[0]?.delta?.content ?? '';
          if (!text.includes(`load ${n}`)) failures.push(`stream answered ${text.slice(0, 80)}`);
          ids.push(response.headers.get('x-portcullis-exchange-id') ?? '');
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const loops = [0, 1, 2].map(load);
    try {
      let seen = 0;
      for (const i of [0, 1, 2]) {
        // Load is flowing: at least one more stream completed since the previous replica rolled.
        await until(`streams flowing before replica ${i} rolls`, SLACK_MS * 4, async () => (ids.length > seen ? true : undefined), () => `${ids.length} streams, failures: ${failures.join('; ')}`);
        seen = ids.length;
        const t0 = Date.now();
        const code = await fleet.terminate(i);
        assert.equal(code, 0, `replica ${i} drained and exited cleanly:\n${logsOf(i)}`);
        const t1 = Date.now();
        await fleet.restart(i);
        t.diagnostic(`replica ${i}: drained in ${t1 - t0} ms, ready again in ${Date.now() - t1} ms`);
      }
    } finally {
      rolling = false;
      await Promise.all(loops);
    }
    assert.deepEqual(failures, [], 'no stream failed');
    assert.ok(ids.length >= 3, `streams served during the roll: ${ids.length}`);
    const read = (): Promise<{ id: string; status: string }[]> =>
      withDb(fleet.directStoreUrl, async (c) => (await c.query<{ id: string; status: string }>('SELECT id, status FROM exchanges WHERE id = ANY($1)', [ids])).rows);
    // An exchange's end is written after its answer (src/proxy/forward.ts): the last streams' ends may still be in
    // their replica's group commit when the client has read the last byte.
    let rows = await read();
    await until('the last streams\' ends are written', SLACK_MS * 4, async () => ((rows = await read()).some((r) => r.status === 'in_progress') ? undefined : true),
      () => JSON.stringify(rows.filter((r) => r.status === 'in_progress')));
    assert.equal(rows.length, ids.length, 'every stream has its record');
    assert.deepEqual(rows.filter((r) => r.status !== 'completed'), [], 'every one completed');
    const store = await PostgresStore.open(fleet.directStoreUrl);
    try {
      const writers = (await verifiedTrail(openAuditRepo(store))).writers.map((w) => w.writer);
      for (const w of ['fleet-0', 'fleet-1', 'fleet-2']) assert.ok(writers.includes(w), `chain of ${w} verified (writers: ${writers.join(', ')})`);
    } finally {
      await store.close();
    }
  });
});
