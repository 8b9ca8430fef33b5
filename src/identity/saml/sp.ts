import { SAML, ValidateInResponseTo, type CacheProvider, type Profile } from '@node-saml/node-saml';
import { GatewayError } from '../../core/errors.ts';
import type { Clock } from '../../core/clock.ts';
import type { SamlIdpConfig } from '../config-schema.ts';
import type { FlowStore } from '../flows.ts';
import { mapGroups } from '../groups.ts';
import type { IdentityRepo } from '../repo.ts';
import type { VerifiedIdentity } from '../tokens/sessions.ts';
import { checkAssertionXml } from './checks.ts';

/** SAML IdP config with certificates and keys resolved from their secret references. */
export interface SamlIdp extends SamlIdpConfig {
  idpCerts: string[];
  spPrivateKey: string | undefined;
  spCertPem: string | undefined;
}

export interface SamlSpOptions {
  idp: SamlIdp;
  publicUrl: string;
  flows: FlowStore;
  repo: IdentityRepo;
  clock: Clock;
  skewSeconds: number;
}

const REQUEST_TTL_MS = 10 * 60_000;

/**
 * A SAML 2.0 Web Browser SSO service provider (SAML Profiles §4.1) on @node-saml/node-saml: SP-initiated, Redirect
 * binding for the AuthnRequest, POST binding for the Response. node-saml verifies the XML signature over the
 * assertion (only signed content is used), audience, NotBefore/NotOnOrAfter and InResponseTo; this class adds
 * what it leaves out: Recipient and Destination, a NameID free of comment tricks, and the assertion-ID replay cache.
 */
export class SamlSp {
  readonly name: string;
  readonly acsUrl: string;
  readonly entityId: string;
  readonly #o: SamlSpOptions;
  readonly #saml: SAML;
  readonly #requests: CacheProvider;

  constructor(o: SamlSpOptions) {
    const { idp } = o;
    this.#o = o;
    this.#requests = this.#requestCache();
    this.name = idp.name;
    this.acsUrl = `${o.publicUrl}/auth/saml/${encodeURIComponent(idp.name)}/acs`;
    this.entityId = idp.sp_entity_id ?? `${o.publicUrl}/auth/saml/${encodeURIComponent(idp.name)}/metadata`;
    this.#saml = new SAML({
      callbackUrl: this.acsUrl,
      entryPoint: idp.entry_point,
      issuer: this.entityId,
      audience: this.entityId,
      idpCert: idp.idpCerts,
      ...(idp.idp_issuer ? { idpIssuer: idp.idp_issuer } : {}),
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      validateInResponseTo: idp.allow_unsolicited ? ValidateInResponseTo.ifPresent : ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: REQUEST_TTL_MS,
      cacheProvider: this.#requests,
      acceptedClockSkewMs: o.skewSeconds * 1000,
      identifierFormat: idp.name_id_format ?? null,
      disableRequestedAuthnContext: true,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      ...(idp.spPrivateKey ? { privateKey: idp.spPrivateKey, publicCert: idp.spCertPem } : {}),
    });
  }

  /** Outstanding AuthnRequest IDs live in the store (any replica may receive the Response). */
  #requestCache(): CacheProvider {
    const f = this.#o.flows;
    return {
      saveAsync: async (key, value) => {
        await f.put('saml-request', key, { value }, REQUEST_TTL_MS);
        return { value, createdAt: this.#o.clock.now() };
      },
      getAsync: async (key) => (await f.get<{ value: string }>('saml-request', key))?.value ?? null,
      removeAsync: async (key) => (key ? ((await f.take<{ value: string }>('saml-request', key))?.value ?? null) : null),
    };
  }

  /** No refresh exists for SAML: the login lasts this long, then the user signs in again. */
  get sessionTtlMs(): number {
    return this.#o.idp.session_ttl_seconds * 1000;
  }

  metadata(): string {
    return this.#saml.generateServiceProviderMetadata(null, this.#o.idp.spCertPem ?? null);
  }

  loginUrl(relayState: string): Promise<string> {
    return this.#saml.getAuthorizeUrlAsync(relayState, undefined, {});
  }

  /** Validates a POSTed SAMLResponse; returns the person it asserts. Throws `unauthenticated` with a reason. */
  async accept(body: Record<string, string>): Promise<{ identity: VerifiedIdentity; solicited: boolean }> {
    let profile: Profile | null;
    try {
      ({ profile } = await this.#saml.validatePostResponseAsync({ SAMLResponse: body.SAMLResponse ?? '' }));
    } catch (err) {
      throw samlRejected(reasonOf(err), err);
    }
    if (!profile) throw samlRejected('no_profile');
    const checked = checkAssertionXml({ assertionXml: profile.getAssertionXml?.() ?? '', responseXml: profile.getSamlResponseXml?.() ?? '', acsUrl: this.acsUrl, nameId: profile.nameID });
    if (typeof checked === 'string') throw samlRejected(checked);
    const now = this.#o.clock.now();
    // SAML Profiles §4.1.4.5: the SP must not accept the same assertion twice while it is valid.
    const fresh = await this.#o.repo.rememberAssertion(checked.assertionId, Math.max(checked.notOnOrAfter, now) + this.#o.skewSeconds * 1000, now);
    if (!fresh) throw samlRejected('replayed_assertion');
    if (typeof profile.inResponseTo === 'string') await this.#requests.removeAsync(profile.inResponseTo);
    return { identity: this.#identity(profile), solicited: Boolean(profile.inResponseTo) };
  }

  #identity(profile: Profile): VerifiedIdentity {
    const idp = this.#o.idp;
    const attrs = (profile.attributes ?? {}) as Record<string, unknown>;
    const display: unknown = attrs[idp.display_attribute] ?? (profile as unknown as Record<string, unknown>)[idp.display_attribute];
    const displayName: unknown = Array.isArray(display) ? (display as unknown[])[0] : display;
    return {
      subject: `user:${idp.subject_prefix}${profile.nameID}`,
      kind: 'user',
      displayName: typeof displayName === 'string' && displayName ? displayName : profile.nameID,
      groups: mapGroups(attrs[idp.groups.claim], idp.groups),
      claims: { iss: profile.issuer, sub: profile.nameID, name_id_format: profile.nameIDFormat, session_index: profile.sessionIndex },
      source: `saml:${idp.name}`,
    };
  }
}

function reasonOf(err: unknown): string {
  const m = err instanceof Error ? err.message : '';
  if (/InResponseTo is missing/i.test(m)) return 'unsolicited_response';
  if (/InResponseTo/i.test(m)) return 'unknown_in_response_to';
  if (/signature/i.test(m)) return 'bad_signature';
  if (/audience/i.test(m)) return 'wrong_audience';
  if (/NotBefore|NotOnOrAfter|expired|not yet valid|subject confirmation/i.test(m)) return 'expired_or_not_yet_valid';
  if (/issuer/i.test(m)) return 'wrong_issuer';
  return 'invalid_response';
}

export function samlRejected(reason: string, cause?: unknown): GatewayError {
  return new GatewayError('unauthenticated', 'The SAML response was rejected.', { details: { reason }, cause });
}
