import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { exchangeDetail } from '../../src/audit/exchange-view.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

/** Scale-out: two stateless gateway replicas on one PostgreSQL behave as one gateway. */
describe('two replicas on PostgreSQL', () => {
  let pg: TestPostgres;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    pg = await startTestPostgres();
    const masterKey = randomBytes(32).toString('base64');
    a = await startTestGateway({ storeUrl: pg.url, masterKey });
    b = await startTestGateway({ storeUrl: pg.url, masterKey });
  });
  after(async () => {
    await a.close();
    await b.close();
    await pg.stop();
  });

  it('only the first replica bootstraps an admin key; a key minted on one works on the other', async () => {
    assert.ok(a.adminKey.startsWith('pcl_'));
    assert.equal(b.adminKey, '', 'the second replica found keys and did not mint another admin');
    const res = await fetch(`${a.gw.url}/admin/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${a.adminKey}` }, body: JSON.stringify({ name: 'carol', groups: ['eng'] }) });
    const { key } = (await res.json()) as { key: string };
    const viaB = new OpenAI({ baseURL: b.openaiBase, apiKey: key, maxRetries: 0 });
    const { data, response } = await viaB.chat.completions.create({ model: 'gpt-4o', stream: false, messages: [{ role: 'user', content: 'through replica b' }] }).withResponse();
    assert.match(data.choices[0]!.message.content!, /replica b/);
    const id = response.headers.get('x-portcullis-exchange-id')!;
    const row = await finishedExchange(a.gw, id);
    assert.equal(row.subject, 'user:carol', 'replica a sees what replica b recorded');
    const detail = await exchangeDetail(a.gw.store, a.gw.keyring, id);
    assert.match(JSON.stringify(detail!.client_request), /through replica b/, 'bodies sealed by b open on a (shared master key)');
  });

  it('streams through both replicas are recorded with their events', async () => {
    for (const r of [a, b]) {
      const c = new OpenAI({ baseURL: r.openaiBase, apiKey: r.userKey, maxRetries: 0 });
      const { data: stream, response } = await c.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'pg stream' }] }).withResponse();
      for await (const _ of stream) { /* drain */ }
      const row = await finishedExchange(r.gw, response.headers.get('x-portcullis-exchange-id')!);
      assert.equal(row.status, 'completed');
      assert.ok((row.eventCount ?? 0) > 3);
    }
  });
});
