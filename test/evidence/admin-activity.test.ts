import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { createAdminActivity, type AdminActivity, type AdminRequest } from '../../src/admin/activity.ts';
import { readJson, requireRole } from '../../src/admin/http.ts';
import { GatewayError } from '../../src/core/errors.ts';
import type { Principal } from '../../src/core/principal.ts';
import type { Route } from '../../src/http/route.ts';
import { serveRoutes } from './helpers.ts';

const ADMIN: Principal = { subject: 'user:root', kind: 'user', displayName: 'root', groups: [], roles: ['admin'], authMethod: 'api_key', credentialId: 'k1' };
const USER: Principal = { ...ADMIN, subject: 'user:bob', roles: [], credentialId: 'k2' };

/**
 * The activity recorder around two admin routes on a real socket: a change (POST /admin/v1/keys, which "creates" a
 * key in an array) and a view. `requested`/`record` stand in for the audit trail and can be made to fail.
 */
async function harness(fail: { requested?: boolean; record?: boolean } = {}) {
  const keys: string[] = [];
  const log: string[] = [];
  const requests: AdminRequest[] = [];
  const records: AdminActivity[] = [];
  const activity = createAdminActivity({
    async requested(r) {
      log.push(`requested with ${keys.length} keys`);
      if (fail.requested) throw new Error('store down');
      requests.push(r);
    },
    async record(a) {
      log.push(`recorded with ${keys.length} keys`);
      if (fail.record) throw new Error('store down');
      records.push(a);
    },
    onRecordError: () => undefined,
  });
  const authenticate = activity.authenticate(async (cred) => {
    if (cred === 'admin') return ADMIN;
    if (cred === 'user') return USER;
    throw new GatewayError('unauthenticated', 'no');
  });
  const routes: Route[] = [
    {
      method: 'POST', path: '/admin/v1/keys',
      handler: async (req, res) => {
        await requireRole(authenticate, req, ['admin']);
        const body = await readJson(req);
        if (typeof body.name !== 'string') throw new GatewayError('invalid_request', 'name is required');
        keys.push(body.name);
        log.push('changed');
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `key_${keys.length}`, subject: `user:${body.name}`, kind: 'user', key: 'pcl_secret' }));
      },
    },
    {
      method: 'GET', path: '/admin/v1/exchanges/:id',
      handler: async (req, res, params) => {
        await requireRole(authenticate, req, ['admin']);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: params.id }));
      },
    },
  ];
  const { server, url } = await serveRoutes(activity.wrap(routes));
  const call = (method: string, path: string, cred: string, body?: unknown) =>
    fetch(url + path, { method, headers: { authorization: `Bearer ${cred}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { server, call, keys, log, requests, records };
}

describe('admin activity: a change is chained before it is made, its outcome after', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });
  const start = async (fail?: { requested?: boolean; record?: boolean }) => {
    const h = await harness(fail);
    servers.push(h.server);
    return h;
  };
  type Change = NonNullable<AdminActivity['change']>;

  it('intent, change, outcome — in that order, tied by one request id; the new key secret is not among the facts', async () => {
    const h = await start();
    const res = await h.call('POST', '/admin/v1/keys', 'admin', { name: 'alice' });
    assert.equal(res.status, 201);
    assert.deepEqual(h.log, ['requested with 0 keys', 'changed', 'recorded with 1 keys']);
    assert.equal(h.requests[0]!.action, 'keys.create');
    const change = h.records[0]!.change as Change;
    assert.equal(change.requestId, h.requests[0]!.requestId);
    assert.match(change.requestId, /^adm_/);
    assert.equal(change.outcome, 'success');
    assert.equal(h.records[0]!.target, 'key_1');
    assert.ok(!JSON.stringify(h.records).includes('pcl_secret'));
  });

  it('attack on the trail: when the intent cannot be chained, nothing is changed and the caller gets 503', async () => {
    const h = await start({ requested: true });
    const res = await h.call('POST', '/admin/v1/keys', 'admin', { name: 'mallory' });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'recording_failed');
    assert.deepEqual(h.keys, [], 'the change was not made');
    assert.deepEqual(h.records, []);
  });

  it('a refused change (bad input, missing role) is chained with its failure', async () => {
    const h = await start();
    assert.equal((await h.call('POST', '/admin/v1/keys', 'admin', { nom: 'x' })).status, 400);
    assert.equal((await h.call('POST', '/admin/v1/keys', 'user', { name: 'x' })).status, 403);
    assert.deepEqual(h.records.map((r) => [r.actor.subject, r.change?.outcome, r.change?.status]), [['user:root', 'failure', 400], ['user:bob', 'failure', 403]]);
    assert.deepEqual(h.records.map((r) => r.change?.requestId), h.requests.map((r) => r.requestId));
    assert.deepEqual(h.keys, []);
  });

  it('an outcome that cannot be recorded withholds the answer (connection dropped); a view chains no intent', async () => {
    const h = await start({ record: true });
    await assert.rejects(h.call('POST', '/admin/v1/keys', 'admin', { name: 'carol' }));
    const v = await start();
    assert.equal((await v.call('GET', '/admin/v1/exchanges/ex_1', 'admin')).status, 200);
    assert.deepEqual(v.requests, []);
    assert.equal(v.records[0]!.action, 'exchange.view');
    assert.equal(v.records[0]!.change, undefined);
  });
});
