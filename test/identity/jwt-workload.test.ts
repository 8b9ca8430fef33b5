import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createPublicKey } from 'node:crypto';
import { base64url, SignJWT } from 'jose';
import { postForm, startHarness, startJwtIssuer, type Harness, type JwtIssuer } from './harness.ts';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

describe('JWT bearer, workload identity and minted tokens', () => {
  let ci: JwtIssuer;
  let idp: JwtIssuer;
  let h: Harness;

  before(async () => {
    ci = await startJwtIssuer();
    idp = await startJwtIssuer();
    h = await startHarness({ identityYaml: `
jwks: { cooldown_ms: 0 }
rate_limit: { burst: 1000, per_second: 1 }
oidc:
  - name: corp
    issuer: ${idp.issuer}
    client_id: portcullis
    algorithms: [RS256]
    subject_claim: email
    groups: { claim: realm_access.roles, prefix: "kc:", exclude: ["default-*"] }
    bearer: { audience: portcullis-api }
workload:
  issuers:
    - { name: ci, issuer: ${ci.issuer}, audience: portcullis, algorithms: [RS256] }
  rules:
    - name: deploy-main
      issuer: ci
      match: { repository: acme/app, ref: refs/heads/main, environment: ["prod", "staging-*"] }
      subject: "ci:{repository}@{ref}"
      groups: [ci, deployers]
      allow_direct: true
    - name: any-acme
      issuer: ci
      match: { repository_owner: acme }
      subject: "ci:{repository}"
      groups: [ci]
` });
  });
  after(async () => {
    await h.close();
    await ci.close();
    await idp.close();
  });

  const ciClaims = { sub: 'repo:acme/app:ref:refs/heads/main', aud: 'portcullis', repository: 'acme/app', repository_owner: 'acme', ref: 'refs/heads/main', environment: 'prod' };
  const userClaims = { sub: 'u-1', aud: 'portcullis-api', email: 'alice@corp.example', realm_access: { roles: ['eng', 'default-roles', 'portcullis-admins'] } };

  it('accepts an IdP access token directly, mapping nested groups with prefix and filters', async () => {
    const r = await h.probe(await idp.sign(userClaims));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.subject, 'user:alice@corp.example');
    assert.deepEqual(r.body.groups, ['kc:eng', 'kc:portcullis-admins']);
    assert.equal(r.body.authMethod, 'oidc_jwt');
  });

  it('exchanges a CI token under the first matching rule and the minted token works', async () => {
    const x = await postForm(`${h.url}/auth/token`, { grant_type: EXCHANGE, subject_token: await ci.sign(ciClaims), subject_token_type: JWT_TYPE });
    assert.equal(x.status, 200, JSON.stringify(x.body));
    assert.equal(x.body.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(x.body.refresh_token, undefined, 'workload exchange issues no refresh token');
    assert.match(String(x.body.access_token), /^pct_/);
    const p = await h.probe(String(x.body.access_token));
    assert.equal(p.status, 200);
    assert.equal(p.body.subject, 'workload:ci:acme/app@refs/heads/main');
    assert.equal(p.body.kind, 'workload');
    assert.deepEqual(p.body.groups, ['ci', 'deployers']);
    // A feature branch of the same org falls through to the broader rule.
    const y = await postForm(`${h.url}/auth/token`, { grant_type: EXCHANGE, subject_token: await ci.sign({ ...ciClaims, ref: 'refs/heads/feature' }), subject_token_type: JWT_TYPE });
    assert.equal(y.status, 200);
    assert.deepEqual(y.body.groups, ['ci']);
    assert.ok(h.events.some((e) => e.type === 'auth.token.minted' && e.subject === 'workload:ci:acme/app@refs/heads/main'));
    assert.ok(!JSON.stringify(h.events).includes(String(x.body.access_token).slice(4)), 'events never carry tokens');
  });

  it('refuses an exchange no rule matches, and direct use without allow_direct', async () => {
    const other = await ci.sign({ ...ciClaims, repository: 'evil/app', repository_owner: 'evil' });
    const x = await postForm(`${h.url}/auth/token`, { grant_type: EXCHANGE, subject_token: other, subject_token_type: JWT_TYPE });
    assert.equal(x.status, 400);
    assert.equal(x.body.error, 'invalid_grant');
    const direct = await h.probe(await ci.sign({ ...ciClaims, ref: 'refs/heads/feature' }));
    assert.equal(direct.status, 401, 'any-acme is not allow_direct');
    const ok = await h.probe(await ci.sign(ciClaims));
    assert.equal(ok.status, 200);
    assert.equal(ok.body.authMethod, 'workload_jwt');
  });

  it('handles JWKS key rotation (unknown kid triggers one refetch)', async () => {
    const before = ci.jwksFetches;
    await ci.rotate(true);
    const r = await h.probe(await ci.sign(ciClaims));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(ci.jwksFetches > before);
  });

  describe('attacks that must fail', () => {
    const expectReject = async (token: string, reason: string | RegExp): Promise<void> => {
      const r = await h.probe(token, { 'x-forwarded-for': 'ignored' });
      assert.equal(r.status, 401, JSON.stringify(r.body));
      const err = r.body.error as { reason?: string };
      if (typeof reason === 'string') assert.equal(err.reason, reason);
      else assert.match(String(err.reason), reason);
    };

    it('alg none', async () => {
      const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      const now = Math.floor(Date.now() / 1000);
      const body = base64url.encode(JSON.stringify({ ...userClaims, iss: idp.issuer, iat: now, exp: now + 60 }));
      await expectReject(`${header}.${body}.`, /alg_not_allowed|malformed/);
    });

    it('HS256 signed with the RSA public key (algorithm confusion)', async () => {
      const pem = createPublicKey({ key: idp.publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const t = await new SignJWT({ ...userClaims, iss: idp.issuer }).setProtectedHeader({ alg: 'HS256', kid: idp.kid }).setIssuedAt().setExpirationTime('5m')
        .sign(new TextEncoder().encode(String(pem)));
      await expectReject(t, 'alg_not_allowed');
    });

    it('unknown kid', async () => {
      const other = await startJwtIssuer();
      try {
        await expectReject(await other.sign({ ...userClaims, iss: idp.issuer }, { kid: 'not-published' }), 'unknown_kid');
      } finally {
        await other.close();
      }
    });

    it('right kid, wrong key (forged signature)', async () => {
      const other = await startJwtIssuer();
      try {
        await expectReject(await other.sign({ ...userClaims, iss: idp.issuer }, { kid: idp.kid }), 'bad_signature');
      } finally {
        await other.close();
      }
    });

    it('expired', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectReject(await idp.sign({ ...userClaims, iat: now - 7200, exp: now - 3600 }), 'expired');
    });

    it('nbf in the future (beyond skew)', async () => {
      await expectReject(await idp.sign({ ...userClaims, nbf: Math.floor(Date.now() / 1000) + 3600 }), 'not_yet_valid');
    });

    it('iat in the future (beyond skew)', async () => {
      await expectReject(await idp.sign({ ...userClaims, iat: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 7200 }), /issued_in_future|bad_iat/);
    });

    it('wrong issuer (unconfigured)', async () => {
      await expectReject(await idp.sign({ ...userClaims, iss: 'https://evil.example' }), 'unknown_issuer');
    });

    it('wrong audience', async () => {
      await expectReject(await idp.sign({ ...userClaims, aud: 'someone-else' }), 'wrong_audience');
    });

    it('tampered payload', async () => {
      const t = await idp.sign(userClaims);
      const [hd, , sig] = t.split('.');
      const forged = base64url.encode(JSON.stringify({ ...userClaims, iss: idp.issuer, realm_access: { roles: ['portcullis-admins', 'root'] }, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 }));
      await expectReject(`${hd}.${forged}.${sig}`, 'bad_signature');
    });

    it('token exchange with an expired subject token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const x = await postForm(`${h.url}/auth/token`, { grant_type: EXCHANGE, subject_token: await ci.sign({ ...ciClaims, iat: now - 900, exp: now - 600 }), subject_token_type: JWT_TYPE });
      assert.equal(x.status, 400);
      assert.equal(x.body.error, 'invalid_grant');
    });
  });

  it('revocation takes effect on the next request', async () => {
    const x = await postForm(`${h.url}/auth/token`, { grant_type: EXCHANGE, subject_token: await ci.sign(ciClaims), subject_token_type: JWT_TYPE });
    const token = String(x.body.access_token);
    assert.equal((await h.probe(token)).status, 200);
    const rv = await postForm(`${h.url}/auth/revoke`, { token });
    assert.equal(rv.status, 200);
    const after = await h.probe(token);
    assert.equal(after.status, 401);
    assert.equal((after.body.error as { reason: string }).reason, 'revoked');
    assert.ok(h.events.some((e) => e.type === 'auth.token.revoked'));
    // Unknown tokens are not an oracle (RFC 7009 §2.2).
    assert.equal((await postForm(`${h.url}/auth/revoke`, { token: 'pct_000000000000000000000000_' + 'a'.repeat(43) })).status, 200);
  });
});

describe('bad-credential flood guard', () => {
  it('rate-limits floods of bad tokens per source without locking out a known-good token', async () => {
    const ci = await startJwtIssuer();
    const h = await startHarness({ identityYaml: `
rate_limit: { burst: 5, per_second: 0.01 }
workload:
  issuers: [{ name: ci, issuer: ${ci.issuer}, audience: portcullis, algorithms: [RS256] }]
  rules: [{ name: r, issuer: ci, match: { repository: acme/app }, subject: "ci:{repository}" }]
` });
    after(async () => { await h.close(); await ci.close(); });
    const x = await postForm(`${h.url}/auth/token`, { grant_type: EXCHANGE, subject_token: await ci.sign({ sub: 's', aud: 'portcullis', repository: 'acme/app' }), subject_token_type: JWT_TYPE });
    const good = String(x.body.access_token);
    assert.equal((await h.probe(good)).status, 200);
    let limited = 0;
    for (let i = 0; i < 12; i++) {
      const r = await h.probe(`pct_${'0'.repeat(24)}_${'b'.repeat(43)}`);
      if (r.status === 429) limited++;
    }
    assert.ok(limited > 0, 'bad-token flood is throttled');
    assert.equal((await h.probe(good)).status, 200, 'a recently verified token keeps working');
    assert.ok(h.events.some((e) => e.type === 'auth.rate_limited'));
  });
});
