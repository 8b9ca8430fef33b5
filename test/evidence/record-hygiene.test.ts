import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** Credential-shaped values a careless client puts where it should not (issue #11 item 14). */
const UA_SECRET = 'sk-proj-Uq7T2bX9kLm4Np8Rs3Vw6Yz1Ac5Ef0Gh';
const MODEL_SECRET = 'sk-ant-api03-Zx8Cv7Bn6Mq5Wr4Et3Yu2Io1Pa';
const SESSION_SECRET = 'ghp_R4nd0mT0k3nV4lu3Abc123Def456Ghi789';
const XFF_SECRET = 'xoxb-1234567890-Abcdefghijklmnop';

/**
 * The exchange record's metadata is stored (and chained) in clear: only bodies are sealed. A credential in the
 * user agent, the model name, the session header or X-Forwarded-For must not be readable in the database file.
 */
describe('client-controlled strings are stored sanitized, never a credential in clear', () => {
  let t: TestGateway;
  let id: string;

  before(async () => {
    t = await startTestGateway();
    const client = new OpenAI({
      baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0,
      defaultHeaders: {
        'user-agent': `my-agent/2.1 (linux; token ${UA_SECRET}) helper/0.3 ${UA_SECRET}`,
        'x-portcullis-session': SESSION_SECRET,
        'x-forwarded-for': `${XFF_SECRET}, 10.0.0.1`,
      },
    });
    const { response } = await client.chat.completions.create({ model: `gpt-4o-${MODEL_SECRET}`, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    id = response.headers.get('x-portcullis-exchange-id')!;
    await finishedExchange(t.gw, id);
    // The provider still gets the model the client asked for: only the record is sanitized.
    assert.equal((t.mock.received.at(-1)!.body as { model: string }).model, `gpt-4o-${MODEL_SECRET}`);
  });
  after(() => t.close());

  it('keeps the user agent\'s clean product tokens and the keyed hash of the whole header', async () => {
    const row = (await t.gw.store.exchanges.get(id))!;
    assert.match(row.userAgent ?? '', /^my-agent\/2\.1 helper\/0\.3 \(hmac:[0-9a-f]{16}\)$/);
    assert.match(row.model ?? '', /^hmac:[0-9a-f]{16}$/, 'a credential-shaped model name is hashed');
    assert.equal(row.upstreamModel, row.model);
    assert.equal(row.clientIp, '127.0.0.1', 'without trust_proxy the peer address is recorded, never header text');
    const a = (await t.gw.evidence.audit.repo.entriesBetween(0, Date.now() + 1000)).find((e) => e.kind === 'exchange.started' && e.refId === id);
    assert.equal(a?.payload.user_agent, row.userAgent, 'the chain holds the same sanitized value');
    assert.equal(a?.payload.model, row.model);
  });

  it('attack: none of the planted credentials is anywhere in the database files', async () => {
    const db = join(t.dir, 'portcullis.db');
    const bytes = Buffer.concat([readFileSync(db), readFileSync(`${db}-wal`, { flag: 'r' })]);
    for (const secret of [UA_SECRET, MODEL_SECRET, SESSION_SECRET, XFF_SECRET]) {
      assert.equal(bytes.indexOf(secret), -1, `${secret.slice(0, 8)}… is stored in clear`);
    }
    // Sanity: the file does hold the clean parts of the same record (the check reads the right bytes).
    assert.notEqual(bytes.indexOf('my-agent/2.1 helper/0.3'), -1);
  });
});
