import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import * as samlify from 'samlify';

/** A self-signed RSA key + certificate (openssl), PEM. */
export function makeCert(cn: string): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-saml-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
}

export interface AssertionSpec {
  nameId: string;
  groups?: string[];
  inResponseTo?: string | undefined;
  audience?: string;
  recipient?: string;
  destination?: string;
  /** Seconds relative to now. */
  notBefore?: number;
  notOnOrAfter?: number;
}

const xmlEsc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const iso = (offsetS: number): string => new Date(Date.now() + offsetS * 1000).toISOString();

/** The XML of a Response; `{NAMEID}` is left raw so tests can inject markup after signing. */
export function responseXml(idpEntity: string, sp: { acs: string; entity: string }, a: AssertionSpec): { xml: string; id: string } {
  const id = '_' + randomBytes(16).toString('hex');
  const aid = '_' + randomBytes(16).toString('hex');
  const irt = a.inResponseTo ? ` InResponseTo="${a.inResponseTo}"` : '';
  const attrs = (a.groups ?? []).map((g) => `<saml:AttributeValue>${xmlEsc(g)}</saml:AttributeValue>`).join('');
  const xml = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="${iso(0)}" Destination="${xmlEsc(a.destination ?? sp.acs)}"${irt}>`
    + `<saml:Issuer>${idpEntity}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>`
    + `<saml:Assertion ID="${aid}" Version="2.0" IssueInstant="${iso(0)}"><saml:Issuer>${idpEntity}</saml:Issuer>`
    + `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${xmlEsc(a.nameId)}</saml:NameID>`
    + `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${iso(a.notOnOrAfter ?? 300)}" Recipient="${xmlEsc(a.recipient ?? sp.acs)}"${irt}/></saml:SubjectConfirmation></saml:Subject>`
    + `<saml:Conditions NotBefore="${iso(a.notBefore ?? -5)}" NotOnOrAfter="${iso(a.notOnOrAfter ?? 300)}"><saml:AudienceRestriction><saml:Audience>${xmlEsc(a.audience ?? sp.entity)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`
    + `<saml:AuthnStatement AuthnInstant="${iso(0)}" SessionIndex="${aid}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`
    + `<saml:AttributeStatement><saml:Attribute Name="groups">${attrs}</saml:Attribute><saml:Attribute Name="email"><saml:AttributeValue>${xmlEsc(a.nameId)}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>`
    + `</saml:Assertion></samlp:Response>`;
  return { xml, id };
}

export interface TestSamlIdp {
  entityId: string;
  cert: string;
  /** Signs (assertion signature, as the SP metadata asks) a response built from `spec`; returns the decoded XML. */
  signedResponse(spec: AssertionSpec): Promise<string>;
  /** The AuthnRequest ID in a Redirect-binding login URL (SAML Bindings §3.4.4.1: DEFLATE + base64). */
  requestIdOf(loginUrl: string): string;
}

/** samlify as the IdP, configured from the SP's own metadata document. */
export const IDP_ENTITY = 'https://idp.test.example/saml';

export function startSamlIdp(o: { spMetadata: string; ssoUrl: string; key: string; cert: string }): TestSamlIdp {
  const { key, cert } = o;
  const entityId = IDP_ENTITY;
  const idp = samlify.IdentityProvider({
    entityID: entityId, privateKey: key, signingCert: cert, wantAuthnRequestsSigned: false,
    singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: o.ssoUrl }],
    nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
    loginResponseTemplate: { context: '{unused}', attributes: [] },
  });
  const sp = samlify.ServiceProvider({ metadata: o.spMetadata });
  const acs = /AssertionConsumerService[^>]*Location="([^"]+)"/.exec(o.spMetadata)![1]!;
  const entity = /entityID="([^"]+)"/.exec(o.spMetadata)![1]!;
  return {
    entityId, cert,
    async signedResponse(spec) {
      const built = responseXml(entityId, { acs, entity }, spec);
      const out = await idp.createLoginResponse(sp, { extract: {} }, 'post', {}, () => ({ id: built.id, context: built.xml }));
      return Buffer.from(out.context, 'base64').toString('utf8');
    },
    requestIdOf(loginUrl) {
      const req = new URL(loginUrl).searchParams.get('SAMLRequest')!;
      const xml = inflateRawSync(Buffer.from(req, 'base64')).toString('utf8');
      return /\sID="([^"]+)"/.exec(xml)![1]!;
    },
  };
}
