import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { postForm, startHarness, type Harness } from './harness.ts';
import { IDP_ENTITY, makeCert, startSamlIdp, type AssertionSpec, type TestSamlIdp } from './saml-idp.ts';

const CLI = 'http://127.0.0.1:9/cb';
const SSO = 'http://127.0.0.1:1/sso';

function samlYaml(extra = ''): string {
  return `
saml:
  - name: corp
    entry_point: ${SSO}
    idp_cert: env:SAML_IDP_CERT
    idp_issuer: ${IDP_ENTITY}
    groups: { claim: groups, prefix: "saml:", exclude: ["everyone"] }
${extra}`;
}

async function setup(extra = ''): Promise<{ h: Harness; idp: TestSamlIdp }> {
  const { key, cert } = makeCert('test-idp');
  const h = await startHarness({ identityYaml: samlYaml(extra), env: { ...process.env, SAML_IDP_CERT: cert } });
  const metadata = await (await fetch(`${h.url}/auth/saml/corp/metadata`)).text();
  return { h, idp: startSamlIdp({ spMetadata: metadata, ssoUrl: SSO, key, cert }) };
}

/** SP-initiated start: returns the AuthnRequest ID, RelayState and the CLI's PKCE verifier. */
async function start(h: Harness, idp: TestSamlIdp): Promise<{ requestId: string; relay: string; verifier: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const r = await fetch(`${h.url}/auth/saml/corp/login?` + new URLSearchParams({ cli_redirect: CLI, cli_challenge: challenge }).toString(), { redirect: 'manual' });
  assert.equal(r.status, 302);
  const loc = r.headers.get('location')!;
  assert.ok(loc.startsWith(SSO + '?'), 'Redirect binding to the IdP SSO URL');
  return { requestId: idp.requestIdOf(loc), relay: new URL(loc).searchParams.get('RelayState')!, verifier };
}

async function acs(h: Harness, xml: string, relay?: string): Promise<Response> {
  const body = new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64'), ...(relay ? { RelayState: relay } : {}) });
  return fetch(`${h.url}/auth/saml/corp/acs`, { method: 'POST', body, redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

async function redeem(h: Harness, res: Response, verifier: string): Promise<Record<string, unknown>> {
  assert.equal(res.status, 302, await res.clone().text());
  const u = new URL(res.headers.get('location')!);
  assert.ok(u.href.startsWith(CLI));
  const t = await postForm(`${h.url}/auth/token`, { grant_type: 'authorization_code', code: u.searchParams.get('code')!, code_verifier: verifier });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return (await h.probe(String(t.body.access_token))).body;
}

describe('SAML 2.0 SP against samlify as the IdP', () => {
  let h: Harness;
  let idp: TestSamlIdp;
  const acsUrl = (): string => `${h.url}/auth/saml/corp/acs`;

  before(async () => ({ h, idp } = await setup()));
  after(async () => h.close());

  it('publishes SP metadata asking for signed assertions', async () => {
    const md = await (await fetch(`${h.url}/auth/saml/corp/metadata`)).text();
    assert.match(md, /WantAssertionsSigned="true"/);
    assert.ok(md.includes(acsUrl()));
  });

  it('full SP-initiated login maps attributes to groups', async () => {
    const s = await start(h, idp);
    const xml = await idp.signedResponse({ nameId: 'alice@corp.example', groups: ['eng', 'everyone', 'portcullis-admins'], inResponseTo: s.requestId });
    const p = await redeem(h, await acs(h, xml, s.relay), s.verifier);
    assert.equal(p.subject, 'user:alice@corp.example');
    assert.deepEqual(p.groups, ['saml:eng', 'saml:portcullis-admins']);
    assert.ok(h.events.some((e) => e.type === 'auth.login.succeeded' && e.source === 'saml:corp'));
  });

  describe('attacks that must fail', () => {
    const rejects = async (xml: string, relay: string | undefined, reason?: RegExp): Promise<void> => {
      const r = await acs(h, xml, relay);
      const text = await r.text();
      assert.equal(r.status, 401, text.slice(0, 300));
      if (reason) assert.match(text, reason);
    };
    const signedFor = async (spec: Partial<AssertionSpec>): Promise<{ xml: string; relay: string }> => {
      const s = await start(h, idp);
      return { xml: await idp.signedResponse({ nameId: 'alice@corp.example', groups: ['eng'], inResponseTo: s.requestId, ...spec }), relay: s.relay };
    };

    it('unsigned response', async () => {
      const { xml, relay } = await signedFor({});
      await rejects(xml.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, ''), relay);
    });

    it('signed by another key', async () => {
      const s = await start(h, idp);
      const rogue = startSamlIdp({ spMetadata: await (await fetch(`${h.url}/auth/saml/corp/metadata`)).text(), ssoUrl: SSO, ...makeCert('rogue') });
      await rejects(await rogue.signedResponse({ nameId: 'alice@corp.example', inResponseTo: s.requestId }), s.relay, /bad_signature|invalid_response/);
    });

    it('XSW: evil unsigned assertion placed before the signed one', async () => {
      const { xml, relay } = await signedFor({});
      const evil = xml.match(/<saml:Assertion[\s\S]*<\/saml:Assertion>/)![0].replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, '').replace('alice@corp.example', 'admin@corp.example').replace(/ID="_/, 'ID="_evil');
      await rejects(xml.replace('<saml:Assertion', evil + '<saml:Assertion'), relay);
    });

    it('XSW: signed assertion moved into Extensions, evil one in its place (same ID)', async () => {
      const { xml, relay } = await signedFor({});
      const signed = xml.match(/<saml:Assertion[\s\S]*<\/saml:Assertion>/)![0];
      const evil = signed.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, '').replaceAll('alice@corp.example', 'admin@corp.example');
      const wrapped = xml.replace(signed, `<samlp:Extensions>${signed}</samlp:Extensions>${evil}`);
      await rejects(wrapped, relay);
    });

    it('XSW: evil assertion wrapped inside the signed one', async () => {
      const { xml, relay } = await signedFor({});
      const signed = xml.match(/<saml:Assertion[\s\S]*<\/saml:Assertion>/)![0];
      const evil = signed.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, '').replaceAll('alice@corp.example', 'admin@corp.example').replace(/ID="_/, 'ID="_evil');
      await rejects(xml.replace(signed, evil.replace('</saml:Assertion>', signed + '</saml:Assertion>')), relay);
    });

    it('comment injection in NameID', async () => {
      const { xml, relay } = await signedFor({ nameId: 'alice@corp.example.evil.com' });
      await rejects(xml.replace('alice@corp.example.evil.com</saml:NameID>', 'alice@corp.example<!---->.evil.com</saml:NameID>'), relay, /name_id_comment_or_markup/);
    });

    it('wrong audience', async () => {
      const { xml, relay } = await signedFor({ audience: 'https://other-sp.example' });
      await rejects(xml, relay, /wrong_audience/);
    });

    it('wrong recipient', async () => {
      const { xml, relay } = await signedFor({ recipient: 'https://other-sp.example/acs' });
      await rejects(xml, relay, /wrong_recipient/);
    });

    it('wrong destination', async () => {
      const { xml, relay } = await signedFor({ destination: 'https://other-sp.example/acs' });
      await rejects(xml, relay, /wrong_destination/);
    });

    it('expired assertion', async () => {
      const { xml, relay } = await signedFor({ notBefore: -7200, notOnOrAfter: -3600 });
      await rejects(xml, relay, /expired_or_not_yet_valid/);
    });

    it('replayed assertion', async () => {
      const s = await start(h, idp);
      const xml = await idp.signedResponse({ nameId: 'alice@corp.example', inResponseTo: s.requestId });
      await redeem(h, await acs(h, xml, s.relay), s.verifier);
      await rejects(xml, s.relay);
    });

    it('unsolicited response (no InResponseTo)', async () => {
      await rejects(await idp.signedResponse({ nameId: 'alice@corp.example' }), undefined, /unsolicited/);
    });

    it('InResponseTo we never issued', async () => {
      await rejects(await idp.signedResponse({ nameId: 'alice@corp.example', inResponseTo: '_never_issued' }), undefined, /in_response_to/);
    });
  });
});

describe('SAML with unsolicited responses enabled', () => {
  it('accepts an IdP-initiated response once, refuses its replay (assertion-ID cache)', async () => {
    const { h, idp } = await setup('    allow_unsolicited: true');
    try {
      const xml = await idp.signedResponse({ nameId: 'bob@corp.example', groups: ['eng'] });
      const first = await acs(h, xml);
      assert.equal(first.status, 200, await first.clone().text());
      const again = await acs(h, xml);
      assert.equal(again.status, 401);
      assert.match(await again.text(), /replayed_assertion/);
    } finally {
      await h.close();
    }
  });
});
