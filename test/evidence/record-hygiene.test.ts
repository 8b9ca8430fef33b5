import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { fakeCredential } from '../helpers/fake-credentials.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** Credential-shaped values a careless client puts where it should not (issue #11 item 14). */
// Made at run time (test/helpers/fake-credentials.ts): credential-shaped, random, never a live secret.
const UA_SECRET = fakeCredential.openaiProject();
const MODEL_SECRET = fakeCredential.anthropic();
const SESSION_SECRET = fakeCredential.github();
const XFF_SECRET = fakeCredential.slackBot();
const JUSTIFICATION_SECRET = fakeCredential.aws();
const BREAK_GLASS_SECRET = fakeCredential.live();

/** Every request of group eng needs a deferred approval; members of eng may break glass. */
const APPROVALS = `
version: 1
rules:
  - id: reviewed
    effect: require_approval
    subjects: { groups: [eng] }
    approval: { mode: deferred, approver_groups: [sec], justification_required: true, break_glass_groups: [eng] }
`;

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

/** The approvals module stores, chains and sends (webhooks) the requester's header text: the same hygiene applies. */
describe('approval requests keep the justification readable but never a credential in it', () => {
  let t: TestGateway;
  const ask = (headers: Record<string, string>) => fetch(`${t.openaiBase}/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${t.userKey}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: `gpt-4o-${MODEL_SECRET}`, messages: [{ role: 'user', content: 'deploy' }] }),
  });

  before(async () => {
    t = await startTestGateway({ extraYaml: 'auth:\n  roles: { admin: [portcullis-admins], approver: [sec], user: [eng] }\n' });
    const admin = (path: string, body: unknown) => fetch(`${t.gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const pushed = (await (await admin('/admin/v1/policies', { source: APPROVALS, message: 'reviewed' })).json()) as { id: string };
    assert.equal((await admin(`/admin/v1/policies/${pushed.id}/activate`, {})).status, 200);
  });
  after(() => t.close());

  it('attack: a credential in x-portcullis-justification or x-portcullis-break-glass is hashed in the approval, its trail and the record', async () => {
    const deferred = await ask({ 'x-portcullis-justification': `ticket OPS-7 token ${JUSTIFICATION_SECRET}` });
    assert.equal(deferred.status, 400, 'a deferred approval is a policy refusal: 400 on an OpenAI path');
    const glass = await ask({ 'x-portcullis-justification': 'outage', 'x-portcullis-break-glass': `prod down, used ${BREAK_GLASS_SECRET}` });
    assert.equal(glass.status, 200, await glass.text());
    const rows = await t.gw.store.exchanges.list({ limit: 10 });
    assert.equal(rows.length, 2);
    const approvals = (await t.gw.evidence.audit.repo.entriesBetween(0, Date.now() + 1000)).filter((e) => e.kind === 'approval.requested');
    assert.equal(approvals.length, 2);
    const justifications = approvals.map((e) => e.payload.justification as string);
    assert.ok(justifications.some((j) => /^ticket OPS-7 token hmac:[0-9a-f]{16}$/.test(j)), `the prose stays readable: ${justifications.join(' | ')}`);
    const db = join(t.dir, 'portcullis.db');
    const bytes = Buffer.concat([readFileSync(db), readFileSync(`${db}-wal`)]);
    for (const secret of [JUSTIFICATION_SECRET, BREAK_GLASS_SECRET, MODEL_SECRET]) assert.equal(bytes.indexOf(secret), -1, `${secret.slice(0, 8)}… is stored in clear`);
    assert.notEqual(bytes.indexOf('ticket OPS-7 token'), -1);
  });
});
