import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { IdentityEvent } from '../../src/identity/index.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { postForm, startJwtIssuer, type JwtIssuer } from './harness.ts';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/**
 * Identity wired into the real gateway (src/main.ts): a CI token exchanged for a Portcullis token, and an IdP
 * access token used directly, drive the unchanged SDKs; each exchange is recorded with the verified identity and
 * groups; admin endpoints are gated by roles derived from groups.
 */
describe('identity in the running gateway', () => {
  let t: TestGateway;
  let ci: JwtIssuer;
  let idp: JwtIssuer;
  const events: IdentityEvent[] = [];

  before(async () => {
    ci = await startJwtIssuer();
    idp = await startJwtIssuer();
    t = await startTestGateway({
      onIdentityEvent: (e) => events.push(e),
      extraYaml: `
identity:
  rate_limit: { burst: 1000, per_second: 1 }
  oidc:
    - name: corp
      issuer: ${idp.issuer}
      client_id: portcullis
      algorithms: [RS256]
      subject_claim: email
      groups: { claim: groups }
      bearer: { audience: portcullis-api }
  workload:
    issuers:
      - { name: ci, issuer: ${ci.issuer}, audience: portcullis, algorithms: [RS256] }
    rules:
      - name: deploy-main
        issuer: ci
        match: { repository: acme/app, ref: refs/heads/main }
        subject: "ci:{repository}@{ref}"
        groups: [ci, deployers]
`,
    });
  });
  after(async () => {
    await t?.close();
    await ci?.close();
    await idp?.close();
  });

  const ciClaims = { sub: 'repo:acme/app:ref:refs/heads/main', aud: 'portcullis', repository: 'acme/app', ref: 'refs/heads/main' };
  const mint = async (claims = ciClaims): Promise<string> => {
    const x = await postForm(`${t.gw.url}/auth/token`, { grant_type: EXCHANGE, subject_token: await ci.sign(claims), subject_token_type: JWT_TYPE });
    assert.equal(x.status, 200, JSON.stringify(x.body));
    return String(x.body.access_token);
  };

  it('a pipeline exchanges its CI token and calls OpenAI and Anthropic through the SDKs; the record names the workload', async () => {
    const token = await mint();
    const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: token, maxRetries: 0 });
    const { response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'deploy notes' }] }).withResponse();
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.subject, 'workload:ci:acme/app@refs/heads/main');
    assert.deepEqual((row.principal as { groups: string[] }).groups, ['ci', 'deployers']);
    assert.equal((row.principal as { kind: string }).kind, 'workload');
    assert.ok(!JSON.stringify(row.principal).includes(token.slice(4)), 'the record never carries the token');

    // Anthropic SDK 0.x sends x-api-key; the minted token works there too.
    const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: token, maxRetries: 0 });
    const msg = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(msg.type, 'message');
  });

  it('an IdP access token works directly as the bearer; its groups decide admin access (deny by default)', async () => {
    const adminJwt = await idp.sign({ sub: 'u-1', aud: 'portcullis-api', email: 'root@corp.example', groups: ['portcullis-admins'] });
    const userJwt = await idp.sign({ sub: 'u-2', aud: 'portcullis-api', email: 'bob@corp.example', groups: ['eng'] });
    const who = await fetch(`${t.gw.url}/admin/v1/whoami`, { headers: { authorization: `Bearer ${adminJwt}` } });
    assert.equal(who.status, 200);
    assert.equal(((await who.json()) as { subject: string }).subject, 'user:root@corp.example');
    const keysAsAdmin = await fetch(`${t.gw.url}/admin/v1/keys`, { headers: { authorization: `Bearer ${adminJwt}` } });
    assert.equal(keysAsAdmin.status, 200);
    const keysAsUser = await fetch(`${t.gw.url}/admin/v1/keys`, { headers: { authorization: `Bearer ${userJwt}` } });
    assert.equal(keysAsUser.status, 403, 'a user without an admin group is refused');

    const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: userJwt, maxRetries: 0 });
    const { response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.subject, 'user:bob@corp.example');
    assert.ok(events.some((e) => e.type === 'auth.token.minted' && e.subject === 'workload:ci:acme/app@refs/heads/main'));
  });

  it('attacks fail in the caller\'s protocol: revoked token, forged JWT, wrong audience, unmatched CI claims', async () => {
    const token = await mint();
    const revoke = await postForm(`${t.gw.url}/auth/revoke`, { token });
    assert.equal(revoke.status, 200);
    const openai = (key: string) => new OpenAI({ baseURL: t.openaiBase, apiKey: key, maxRetries: 0 });
    const call = (key: string) => openai(key).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    await assert.rejects(call(token), (e: unknown) => e instanceof OpenAI.AuthenticationError, 'a revoked token stops working at once');

    const stranger = await startJwtIssuer();
    try {
      // Signed by a key the gateway does not trust, but claiming the trusted issuer.
      const forged = await idp.sign({ sub: 'u-3', aud: 'portcullis-api', email: 'mallory@corp.example', groups: ['portcullis-admins'] }, { key: stranger.privateKey, kid: idp.kid });
      await assert.rejects(call(forged), (e: unknown) => e instanceof OpenAI.AuthenticationError);
      const adminTry = await fetch(`${t.gw.url}/admin/v1/keys`, { headers: { authorization: `Bearer ${forged}` } });
      assert.equal(adminTry.status, 401);
    } finally {
      await stranger.close();
    }
    const wrongAud = await idp.sign({ sub: 'u-4', aud: 'someone-else', email: 'eve@corp.example', groups: ['eng'] });
    await assert.rejects(call(wrongAud), (e: unknown) => e instanceof OpenAI.AuthenticationError);

    const x = await postForm(`${t.gw.url}/auth/token`, { grant_type: EXCHANGE, subject_token: await ci.sign({ ...ciClaims, repository: 'evil/app' }), subject_token_type: JWT_TYPE });
    assert.notEqual(x.status, 200, 'a CI token no rule matches is not exchanged');
    assert.ok(events.some((e) => e.type === 'auth.token.rejected' || e.type === 'auth.login.failed'));
  });
});
