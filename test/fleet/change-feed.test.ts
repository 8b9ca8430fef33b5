import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openIdentityRepo } from '../../src/store/identity-repo.ts';
import type { StoreChange } from '../../src/store/ports.ts';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { until, withDb } from './client.ts';

/**
 * The PostgreSQL change feed (docs/fleet.md): a change committed through one store (one replica's pool) reaches
 * the subscribers of another; a change that is not committed sends nothing; a lost listening connection comes back.
 */
describe('fleet: PostgreSQL change feed (LISTEN/NOTIFY)', () => {
  let pgs: TestPostgres;
  let writer: PostgresStore;
  let reader: PostgresStore;
  const seen: StoreChange[] = [];
  before(async () => {
    pgs = await startTestPostgres();
    writer = await PostgresStore.open(pgs.url);
    reader = await PostgresStore.open(pgs.url);
    reader.changes.subscribe((c) => seen.push(c));
  });
  after(async () => {
    await writer.close();
    await reader.close();
    await pgs.stop();
  });

  const key = (id: string) => ({
    id, hash: 'ab'.repeat(32), subject: `user:${id}`, kind: 'user' as const, displayName: id, groups: [], createdAt: 1, createdBy: 't',
    expiresAt: null, revokedAt: null, description: null,
  });
  const listening = (): Promise<boolean> => withDb(pgs.url, async (c) =>
    (await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN portcullis_changes%'")).rows[0].n > 0);

  it('a revocation committed through one pool reaches the other; revoking again (no change) sends nothing', async () => {
    await until('the listener is connected', 10_000, async () => ((await listening()) ? true : undefined));
    await writer.apiKeys.create(key('feedkey1'));
    assert.equal(await writer.apiKeys.revoke('feedkey1', 2), true);
    assert.equal(await writer.apiKeys.revoke('feedkey1', 3), false);
    await writer.apiKeys.create(key('feedkey2'));
    await writer.apiKeys.revoke('feedkey2', 2);
    // feedkey2's notice arrives after feedkey1's: had the no-op revoke sent one, it would sit between them.
    await until('both revocations arrive', 10_000, async () => (seen.some((c) => c.id === 'feedkey2') ? true : undefined), () => JSON.stringify(seen));
    assert.deepEqual(seen.filter((c) => c.kind === 'key_revoked').map((c) => c.id), ['feedkey1', 'feedkey2']);
  });

  it('revoking login sessions sends one notice per session revoked (one session, or every live session of a subject); nothing when none changed', async () => {
    const identity = openIdentityRepo(writer);
    const session = (id: string, subject: string) => ({
      id, subject, kind: 'user' as const, displayName: subject, groups: [], claims: {}, source: 'oidc:t', authMethod: 'session_token' as const,
      accessHash: 'cd'.repeat(32), accessExpiresAt: 9e12, prevAccessHash: null, prevAccessExpiresAt: null, refreshHash: null, idpRefresh: null,
      createdAt: 1, refreshedAt: null, expiresAt: 9e12, revokedAt: null, revokedReason: null,
    });
    for (const [id, subject] of [['sess-a', 'user:one'], ['sess-b', 'user:two'], ['sess-c', 'user:two']] as const) await identity.createSession(session(id, subject));
    assert.equal(await identity.revokeSession('sess-a', 2, 'test'), true);
    assert.equal(await identity.revokeSession('sess-a', 3, 'test'), false);
    assert.equal(await identity.revokeSubject('user:two', 4, 'offboarded'), 2);
    await until('the three session notices arrive', 10_000, async () => (seen.filter((c) => c.kind === 'session_revoked').length >= 3 ? true : undefined), () => JSON.stringify(seen));
    assert.deepEqual(seen.filter((c) => c.kind === 'session_revoked').map((c) => c.id).sort(), ['sess-a', 'sess-b', 'sess-c']);
  });

  it('a listening connection the server ends is re-opened, and changes arrive again', async () => {
    await withDb(pgs.url, (c) => c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN portcullis_changes%'"));
    await until('the listener is back', 20_000, async () => ((await listening()) ? true : undefined));
    await writer.apiKeys.create(key('feedkey3'));
    await writer.apiKeys.revoke('feedkey3', 2);
    await until('the revocation after the reconnect arrives', 10_000, async () => (seen.some((c) => c.id === 'feedkey3') ? true : undefined), () => JSON.stringify(seen));
  });
});
