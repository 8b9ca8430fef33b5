import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startHarness, type Harness } from './harness.ts';

/**
 * Approval state lives in the store: a restart while pending loses nothing (the held call fails cleanly, the
 * approval stays, the retry works), on the embedded SQLite and on PostgreSQL shared by two replicas.
 */
const client = (h: Harness) => new OpenAI({ apiKey: h.keys.alice, baseURL: h.t.openaiBase, maxRetries: 0 });
const ask = (h: Harness, content: string) => client(h).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content }] });

// One master key per store, as in production: the tests of this file share one PostgreSQL database.
const masterKey = randomBytes(32).toString('base64');

async function restartScenario(storeUrl: string): Promise<void> {
  const harnesses: Harness[] = [];
  try {
    const a = await startHarness({ storeUrl, masterKey });
    harnesses.push(a);
    a.setRule({});
    const held = ask(a, 'held across a restart').catch((e: unknown) => e);
    const heldId = await a.pendingFor('user:alice');
    a.setRule({ mode: 'deferred' });
    const deferred = await ask(a, 'deferred across a restart').catch((e: unknown) => e);
    assert.ok(deferred instanceof OpenAI.BadRequestError);
    const deferredId = (deferred.error as { portcullis: { approval_id: string } }).portcullis.approval_id;

    await a.close();
    harnesses.pop();
    const err = await held;
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 503, 'the held connection fails cleanly');
    assert.match(err.message, new RegExp(`${heldId} stays pending`));

    const b = await startHarness({ storeUrl, masterKey });
    harnesses.push(b);
    const shown = (await b.api(b.keys.bob, 'GET', `/admin/v1/approvals/${heldId}`)).json;
    assert.equal(shown.state, 'pending');
    assert.equal((shown.request as { messages: { content: string }[] }).messages[0]?.content, 'held across a restart');
    assert.equal((await b.cli(b.keys.bob, ['approve', heldId])).code, 0);
    assert.equal((await b.cli(b.keys.bob, ['approve', deferredId])).code, 0);
    b.setRule({});
    assert.ok((await ask(b, 'held across a restart')).choices[0], 'the identical retry of the held request passes');
    b.setRule({ mode: 'deferred' });
    assert.ok((await ask(b, 'deferred across a restart')).choices[0], 'the deferred retry passes after the restart');
    assert.equal((await b.api(b.keys.bob, 'GET', `/admin/v1/approvals/${deferredId}`)).json.state, 'executed');
  } finally {
    for (const h of harnesses) await h.close();
  }
}

describe('approvals survive restarts', () => {
  let pg: TestPostgres;
  before(async () => {
    pg = await startTestPostgres();
  });
  after(async () => {
    await pg.stop();
  });

  test('embedded SQLite', async () => {
    await restartScenario(`sqlite:${join(mkdtempSync(join(tmpdir(), 'pcl-appr-restart-')), 'p.db')}`);
  });

  test('PostgreSQL', async () => {
    await restartScenario(pg.url);
  });

  test('two replicas on one PostgreSQL: held on one, approved through the other', async () => {
    const a = await startHarness({ storeUrl: pg.url, masterKey });
    const b = await startHarness({ storeUrl: pg.url, masterKey }).catch(async (e: unknown) => {
      await a.close();
      throw e;
    });
    try {
      const earlier = new Set(((await a.api(a.keys.dave, 'GET', '/admin/v1/approvals?state=pending')).json.data as { id: string }[]).map((r) => r.id));
      a.setRule({});
      const held = ask(a, 'cross replica');
      const id = await a.pendingFor('user:alice', earlier);
      assert.equal((await b.api(b.keys.bob, 'POST', `/admin/v1/approvals/${id}/approve`, {})).json.state, 'approved');
      assert.ok((await held).choices[0]);
      assert.equal((await b.api(b.keys.bob, 'GET', `/admin/v1/approvals/${id}`)).json.state, 'executed');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
