import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { auditRoutes } from '../../src/admin/audit-routes.ts';
import { verifyBundle } from '../../src/audit/bundle-verify.ts';
import { GatewayError } from '../../src/core/errors.ts';
import { ApiKeyAuthenticator } from '../../src/identity/api-key-authenticator.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { closeOpenFixtures, seeded, serveRoutes } from './helpers.ts';

/** The audit routes on a real socket, authenticated with real Portcullis keys from the fixture's store. */
async function api(): Promise<{ url: string; auditor: string; user: string; server: Server; f: Awaited<ReturnType<typeof seeded>>['f'] }> {
  const { f, log, clock } = await seeded();
  const authn = new ApiKeyAuthenticator({ repo: f.store.apiKeys, clock, roles: { admin: ['portcullis-admins'], auditor: ['portcullis-auditors'] }, cacheTtlMs: 0 });
  const { server, url } = await serveRoutes(auditRoutes({
    store: f.store, repo: f.repo, keyring: f.keyring, clock, log,
    authenticate: async (cred, ctx) => {
      if (!cred) throw new GatewayError('unauthenticated', 'missing');
      return authn.authenticate(cred, ctx);
    },
  }));
  const now = clock.now();
  const auditor = (await createApiKey(f.store.apiKeys, { name: 'aud', kind: 'user', groups: ['portcullis-auditors'], expiresAt: null, createdBy: 't' }, now)).secret;
  const user = (await createApiKey(f.store.apiKeys, { name: 'bob', kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 't' }, now)).secret;
  return { url, auditor, user, server, f };
}

describe('admin API: audit and sessions', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    await closeOpenFixtures();
  });

  it('auditor lists sessions, views one (chained before bodies are returned), verifies and exports', async () => {
    const { url, auditor, server, f } = await api();
    servers.push(server);
    const get = (p: string) => fetch(url + p, { headers: { authorization: `Bearer ${auditor}` } });
    const list = (await (await get('/admin/v1/sessions')).json()) as { data: { id: string; exchange_count: number }[] };
    assert.deepEqual(list.data.map((s) => [s.id, s.exchange_count]), [['ses_0', 6]]);
    const one = (await (await get('/admin/v1/sessions/ses_0')).json()) as { exchanges: { id: string; client_request: unknown; events: unknown[] }[] };
    assert.equal(one.exchanges.length, 6);
    assert.deepEqual(one.exchanges[0]!.client_request, { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] });
    assert.equal(one.exchanges[1]!.events.length, 2);
    const head = (await f.repo.heads())[0]!;
    const viewed = await f.repo.entry(head.writer, head.seq);
    assert.equal(viewed!.kind, 'admin.action');
    assert.deepEqual(viewed!.payload, { action: 'session.view', target: 'ses_0' });

    const v = (await (await get('/admin/v1/audit/verify')).json()) as { ok: boolean; entries: number; checked_at: string; writers: Record<string, unknown>[]; keys: Record<string, unknown>[] };
    assert.equal(v.ok, true);
    assert.equal(v.entries, 14);
    // snake_case like the rest of the API
    assert.match(v.checked_at, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(Object.keys(v.writers[0]!).sort(), ['entries', 'first_seq', 'last_seq', 'sealed_seq', 'writer']);
    assert.deepEqual(Object.keys(v.keys[0]!).sort(), ['key_id', 'public_key_pem']);
    const b = await (await get('/admin/v1/audit/export?since=2025-01-01T00:00:00Z')).json();
    const pk = (await (await get('/admin/v1/audit/public-key')).json()) as { public_key_pem: string };
    assert.equal(verifyBundle(b, { pinnedPublicKeyPem: pk.public_key_pem }).ok, true);
    assert.equal((await get('/admin/v1/sessions/ses_missing')).status, 404);
    assert.equal((await get('/admin/v1/audit/export?since=yesterday')).status, 400);
  });

  it('a user without the auditor role cannot read sessions or bodies, and nothing is decrypted for them', async () => {
    const { url, user, server, f } = await api();
    servers.push(server);
    const before = await f.repo.heads();
    for (const p of ['/admin/v1/sessions', '/admin/v1/sessions/ses_0', '/admin/v1/audit/verify', '/admin/v1/audit/export']) {
      const r = await fetch(url + p, { headers: { authorization: `Bearer ${user}` } });
      assert.equal(r.status, 403, p);
      const body = await r.text();
      assert.doesNotMatch(body, /hello/);
    }
    assert.equal((await fetch(url + '/admin/v1/sessions/ses_0')).status, 401);
    assert.deepEqual(await f.repo.heads(), before);
  });
});
