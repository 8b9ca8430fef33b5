import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { postForm, startHarness, type Harness } from './harness.ts';
import { Browser, startTestIdp, type TestIdp } from './oidc-idp.ts';

const pkce = (): { verifier: string; challenge: string } => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

describe('OIDC login against a real OpenID Provider (oidc-provider)', () => {
  let idp: TestIdp;
  let h: Harness;
  const cli = 'http://127.0.0.1:9/cb';

  before(async () => {
    h = await startHarness({
      authYaml: '',
      identityYaml: async (url) => {
        idp = await startTestIdp({ redirectUris: [`${url}/auth/oidc/corp/callback`] });
        return `
jwks: { cooldown_ms: 0 }
oidc:
  - name: corp
    issuer: ${idp.issuer}
    client_id: portcullis
    client_secret: portcullis-secret
    scopes: [openid, email, groups, offline_access]
    subject_claim: email
    groups: { claim: groups, prefix: "corp:" }
`;
      },
    });
    idp.accounts.set('alice', { email: 'alice@corp.example', groups: ['eng', 'portcullis-admins'] });
    idp.accounts.set('bob', { email: 'bob@corp.example', groups: 'solo-group' });
  });
  after(async () => {
    await h.close();
    await idp.close();
  });

  const browserLogin = async (login: string): Promise<{ code: string; verifier: string; browser: Browser }> => {
    const { verifier, challenge } = pkce();
    const browser = new Browser();
    const start = `${h.url}/auth/oidc/corp/login?` + new URLSearchParams({ cli_redirect: cli, cli_challenge: challenge, cli_state: 'st8' }).toString();
    const out = await browser.drive(start, { login, stopAt: cli });
    assert.ok(out.url, `login should end at the CLI loopback, got page: ${out.page?.slice(0, 300)}`);
    const u = new URL(out.url);
    assert.equal(u.searchParams.get('state'), 'st8');
    return { code: u.searchParams.get('code')!, verifier, browser };
  };

  it('authorization code + PKCE end to end, tokens bound to identity and groups', async () => {
    const { code, verifier } = await browserLogin('alice');
    const t = await postForm(`${h.url}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.match(String(t.body.access_token), /^pct_/);
    assert.match(String(t.body.refresh_token), /^pcr_/);
    const p = await h.probe(String(t.body.access_token));
    assert.equal(p.body.subject, 'user:alice@corp.example');
    assert.deepEqual(p.body.groups, ['corp:eng', 'corp:portcullis-admins']);
    assert.equal(p.body.authMethod, 'session_token');
    assert.ok(h.events.some((e) => e.type === 'auth.login.succeeded' && e.method === 'code'));
    // The one-time code is single use.
    const again = await postForm(`${h.url}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier });
    assert.equal(again.status, 400);
  });

  it('a hand-off code cannot be redeemed without the CLI PKCE verifier', async () => {
    const { code } = await browserLogin('alice');
    const t = await postForm(`${h.url}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: pkce().verifier });
    assert.equal(t.status, 400);
    assert.equal(t.body.error, 'invalid_grant');
  });

  it('refresh re-asks the IdP: group changes land, old refresh token reuse revokes the session', async () => {
    const { code, verifier } = await browserLogin('alice');
    const t = await postForm(`${h.url}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier });
    idp.accounts.set('alice', { email: 'alice@corp.example', groups: ['eng'] });
    const r = await postForm(`${h.url}/auth/token`, { grant_type: 'refresh_token', refresh_token: String(t.body.refresh_token) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.groups, ['corp:eng']);
    assert.deepEqual((await h.probe(String(r.body.access_token))).body.groups, ['corp:eng']);
    const reuse = await postForm(`${h.url}/auth/token`, { grant_type: 'refresh_token', refresh_token: String(t.body.refresh_token) });
    assert.equal(reuse.status, 400);
    assert.equal((await h.probe(String(r.body.access_token))).status, 401, 'reuse of a rotated refresh token kills the session');
    idp.accounts.set('alice', { email: 'alice@corp.example', groups: ['eng', 'portcullis-admins'] });
  });

  it('refresh fails once the IdP no longer knows the user', async () => {
    idp.accounts.set('carol', { email: 'carol@corp.example', groups: [] });
    const { code, verifier } = await browserLogin('carol');
    const t = await postForm(`${h.url}/auth/token`, { grant_type: 'authorization_code', code, code_verifier: verifier });
    idp.accounts.delete('carol');
    const r = await postForm(`${h.url}/auth/token`, { grant_type: 'refresh_token', refresh_token: String(t.body.refresh_token) });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal((await h.probe(String(t.body.access_token))).status, 401);
  });

  it('device authorization grant (RFC 8628) end to end, single string group claim', async () => {
    const s = await postForm(`${h.url}/auth/device/start`, { idp: 'corp' });
    assert.equal(s.status, 200, JSON.stringify(s.body));
    const handle = s.body.device_handle as string;
    const verifyUri = s.body.verification_uri_complete as string;
    assert.ok(s.body.user_code && verifyUri && handle);
    const pending = await postForm(`${h.url}/auth/device/poll`, { device_handle: handle });
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending');
    const page = await new Browser().drive(verifyUri, { login: 'bob' });
    assert.match(page.page ?? '', /success|Sign-in Success|completed/i);
    let tokens: Record<string, unknown> | undefined;
    for (let i = 0; i < 20 && !tokens; i++) {
      await new Promise((r) => setTimeout(r, Number(s.body.interval) * 1000));
      const p = await postForm(`${h.url}/auth/device/poll`, { device_handle: handle });
      if (p.status === 200) tokens = p.body;
      else assert.ok(['authorization_pending', 'slow_down'].includes(String(p.body.error)), JSON.stringify(p.body));
    }
    assert.ok(tokens);
    const p = await h.probe(String(tokens.access_token));
    assert.equal(p.body.subject, 'user:bob@corp.example');
    assert.deepEqual(p.body.groups, ['corp:solo-group']);
  });

  it('refuses a non-loopback cli_redirect and an unknown state', async () => {
    const bad = await fetch(`${h.url}/auth/oidc/corp/login?cli_redirect=https://evil.example/cb&cli_challenge=${pkce().challenge}`, { redirect: 'manual' });
    assert.equal(bad.status, 400);
    const cb = await fetch(`${h.url}/auth/oidc/corp/callback?code=x&state=forged`, { redirect: 'manual' });
    assert.equal(cb.status, 400);
    assert.ok(h.events.some((e) => e.type === 'auth.login.failed' && e.reason === 'unknown_state'));
  });
});
