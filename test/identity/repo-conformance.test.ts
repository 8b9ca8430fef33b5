import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IdentityRepo, SessionRecord } from '../../src/identity/repo.ts';
import { openIdentityRepo } from '../../src/store/identity-repo.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/ports.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

/** The identity port's behaviour, run unchanged on SQLite and PostgreSQL (STYLE.md #7). */
function identityRepoConformance(name: string, open: () => Promise<{ store: Store; cleanup(): Promise<void> }>): void {
  describe(`identity repo conformance: ${name}`, () => {
    let store: Store;
    let opened: { store: Store; cleanup(): Promise<void> };
    let repo: IdentityRepo;
    before(async () => {
      opened = await open();
      store = opened.store;
      repo = openIdentityRepo(store);
    });
    after(async () => {
      await store.close();
      await opened.cleanup();
    });

    const session = (over: Partial<SessionRecord> = {}): SessionRecord => ({
      id: `ses_${Math.random().toString(36).slice(2)}`, subject: 'user:alice', kind: 'user', displayName: 'Alice',
      groups: ['eng'], claims: { email: 'alice@example.com' }, source: 'oidc:corp', authMethod: 'session_token',
      accessHash: 'a'.repeat(64), accessExpiresAt: 2_000, prevAccessHash: null, prevAccessExpiresAt: null,
      refreshHash: 'r'.repeat(64), idpRefresh: Buffer.from([1, 2, 3]), createdAt: 1_000, refreshedAt: null,
      expiresAt: 100_000, revokedAt: null, revokedReason: null, ...over,
    });

    it('round-trips a session, binary refresh credential included', async () => {
      const s = session();
      await repo.createSession(s);
      const got = await repo.getSession(s.id);
      assert.deepEqual({ ...got, idpRefresh: [...got!.idpRefresh!] }, { ...s, idpRefresh: [1, 2, 3] });
      assert.equal(await repo.getSession('ses_missing'), undefined);
    });

    it('rotates only against the current refresh hash (reuse detection)', async () => {
      const s = session();
      await repo.createSession(s);
      const rot = {
        id: s.id, expectedRefreshHash: s.refreshHash!, accessHash: 'b'.repeat(64), accessExpiresAt: 3_000, prevAccessHash: s.accessHash,
        prevAccessExpiresAt: s.accessExpiresAt, refreshHash: 'q'.repeat(64), idpRefresh: null, groups: ['eng', 'ml'], claims: {}, refreshedAt: 2_500,
      };
      assert.equal(await repo.rotateSession(rot), true);
      assert.equal(await repo.rotateSession(rot), false, 'the old refresh hash must not rotate twice');
      const got = await repo.getSession(s.id);
      assert.deepEqual(got!.groups, ['eng', 'ml']);
      assert.equal(got!.refreshHash, 'q'.repeat(64));
    });

    it('revokes one session, then every session of a subject, and lists active ones', async () => {
      const a = session({ subject: 'user:bob' });
      const b = session({ subject: 'user:bob' });
      await repo.createSession(a);
      await repo.createSession(b);
      assert.equal(await repo.revokeSession(a.id, 5_000, 'logout'), true);
      assert.equal(await repo.revokeSession(a.id, 5_000, 'logout'), false);
      assert.deepEqual((await repo.listSessions({ subject: 'user:bob', activeAt: 5_000 })).map((x) => x.id), [b.id]);
      assert.equal(await repo.revokeSubject('user:bob', 6_000, 'offboarded'), 1);
      assert.equal((await repo.listSessions({ subject: 'user:bob', activeAt: 6_000 })).length, 0);
      const revoked = await repo.getSession(a.id);
      assert.equal(revoked!.revokedReason, 'logout');
      assert.equal(revoked!.idpRefresh, null, 'a revoked session keeps no IdP refresh credential');
    });

    it('login flows are single-use and expire', async () => {
      await repo.putFlow('f1', 'oidc', Buffer.from('sealed'), 10_000);
      assert.equal((await repo.getFlow('f1', 'oidc', 9_000))!.toString(), 'sealed');
      assert.equal(await repo.getFlow('f1', 'saml', 9_000), undefined, 'kind is part of the key');
      assert.equal((await repo.takeFlow('f1', 'oidc', 9_000))!.toString(), 'sealed');
      assert.equal(await repo.takeFlow('f1', 'oidc', 9_000), undefined, 'a taken flow cannot be taken again');
      await repo.putFlow('f2', 'oidc', Buffer.from('x'), 10_000);
      assert.equal(await repo.takeFlow('f2', 'oidc', 10_001), undefined, 'an expired flow is refused');
    });

    it('remembers SAML assertion ids until they expire (replay cache)', async () => {
      assert.equal(await repo.rememberAssertion('_a1', 10_000, 1_000), true);
      assert.equal(await repo.rememberAssertion('_a1', 10_000, 2_000), false, 'replay');
      assert.equal(await repo.rememberAssertion('_a1', 30_000, 10_001), true, 'after expiry the id may be seen again');
    });

    it('purges expired flows, replay entries and long-dead sessions', async () => {
      await repo.putFlow('old', 'device', Buffer.from('x'), 1);
      const dead = session({ expiresAt: 10 });
      await repo.createSession(dead);
      const n = await repo.purge(8 * 86_400_000);
      assert.ok(n >= 2);
      assert.equal(await repo.getSession(dead.id), undefined);
      assert.equal(await repo.getFlow('old', 'device', 0), undefined);
    });
  });
}

identityRepoConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-idrepo-'));
  return { store: await openStore(`sqlite:${join(dir, 'p.db')}`, { baseDir: dir }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

identityRepoConformance('postgres', async () => {
  const server: TestPostgres = await startTestPostgres();
  return { store: await openStore(server.url, { baseDir: tmpdir() }), cleanup: () => server.stop() };
});
