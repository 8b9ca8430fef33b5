/**
 * The `identity` config section (docs/identity.md documents every key). Merged into the gateway schema by one
 * property line in src/config/schema.ts. Secrets (`client_secret`, `idp_cert`, SP keys) are secret references
 * (`env:`, `file:`, `${VAR}`), resolved at startup by createIdentity.
 */

/** Where groups come from and how they are cleaned up before policies and roles see them. */
export interface GroupMappingConfig {
  /** Dot path into the token claims (`groups`, `roles`, `realm_access.roles`) or a SAML attribute name. */
  claim: string;
  /** Keep only groups matching one of these globs (`*`, `?`); empty = keep all. */
  include: string[];
  /** Drop groups matching one of these globs. */
  exclude: string[];
  /** Prepended to every mapped group, e.g. `okta:`. */
  prefix: string;
  /** Groups every identity from this source gets. */
  add: string[];
}

export interface OidcIdpConfig {
  name: string;
  issuer: string;
  client_id: string;
  client_secret?: string;
  scopes: string[];
  /** JWS algorithms accepted for ID tokens and bearer JWTs; asymmetric only. */
  algorithms: string[];
  subject_claim: string;
  subject_prefix: string;
  display_claim: string;
  groups: GroupMappingConfig;
  /** Accept this IdP's JWT access tokens directly as bearer credentials. */
  bearer?: { audience: string | string[] };
  device_flow: boolean;
  /** Overrides discovery (rarely needed). */
  jwks_uri?: string;
}

export interface SamlIdpConfig {
  name: string;
  entry_point: string;
  /** IdP signing certificate(s), PEM or secret reference. */
  idp_cert: string | string[];
  idp_issuer?: string;
  /** SP entity ID; default `<public_url>/auth/saml/<name>/metadata`. */
  sp_entity_id?: string;
  /** Private key + certificate used to sign AuthnRequests (optional). */
  sp_private_key?: string;
  sp_cert?: string;
  name_id_format?: string;
  groups: GroupMappingConfig;
  display_attribute: string;
  subject_prefix: string;
  allow_unsolicited: boolean;
  /** How long a SAML login stays valid (no IdP refresh exists for SAML). */
  session_ttl_seconds: number;
}

export interface WorkloadIssuerConfig {
  name: string;
  issuer: string;
  audience: string | string[];
  algorithms: string[];
  jwks_uri?: string;
}

export interface WorkloadRuleConfig {
  name: string;
  /** Name of a workload issuer. */
  issuer: string;
  /** Claim (dot path) -> glob or list of globs; every entry must match. */
  match: Record<string, string | string[]>;
  /** Service subject; `{claim.path}` placeholders are filled from the token, e.g. `ci:{repository}`. */
  subject: string;
  groups: string[];
  /** Also accept the workload JWT directly as bearer (else only through token exchange). */
  allow_direct: boolean;
}

export interface IdentityConfig {
  /** Externally visible gateway URL for redirects and SAML ACS; defaults to server.public_url. */
  public_url?: string;
  clock_skew_seconds: number;
  tokens: {
    access_ttl_seconds: number;
    session_ttl_seconds: number;
    /** How long a checked token stays cached in process; revocation through this process is immediate. */
    cache_ttl_ms: number;
  };
  rate_limit: { burst: number; per_second: number };
  /** Remote key sets: fetch timeout, minimum gap between unknown-`kid` refetches, max cache age. */
  jwks: { timeout_ms: number; cooldown_ms: number; cache_max_age_ms: number };
  oidc: OidcIdpConfig[];
  saml: SamlIdpConfig[];
  workload: { issuers: WorkloadIssuerConfig[]; rules: WorkloadRuleConfig[] };
}

const name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' } as const;
const strings = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const stringOrList = { anyOf: [{ type: 'string', minLength: 1 }, { ...strings, minItems: 1 }] } as const;
/** `none` and HMAC (HS*) are not in the enum on purpose: a public JWKS must never verify a MAC (RFC 8725 §2.1, §3.1). */
const asymmetricAlgs = {
  type: 'array',
  minItems: 1,
  items: { enum: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] },
  default: ['RS256', 'ES256'],
} as const;

function groupMapping(defaultClaim: string) {
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      claim: { type: 'string', minLength: 1, default: defaultClaim },
      include: { ...strings, default: [] },
      exclude: { ...strings, default: [] },
      prefix: { type: 'string', default: '' },
      add: { ...strings, default: [] },
    },
  } as const;
}

export const identityConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    public_url: { type: 'string', pattern: '^https?://' },
    clock_skew_seconds: { type: 'integer', minimum: 0, maximum: 300, default: 60 },
    tokens: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        access_ttl_seconds: { type: 'integer', minimum: 30, maximum: 86_400, default: 900 },
        session_ttl_seconds: { type: 'integer', minimum: 300, maximum: 90 * 86_400, default: 7 * 86_400 },
        cache_ttl_ms: { type: 'integer', minimum: 0, maximum: 60_000, default: 1_000 },
      },
    },
    rate_limit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'failed authentications per source IP (token bucket)',
      properties: {
        burst: { type: 'integer', minimum: 1, maximum: 100_000, default: 20 },
        per_second: { type: 'number', exclusiveMinimum: 0, maximum: 10_000, default: 1 },
      },
    },
    jwks: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        timeout_ms: { type: 'integer', minimum: 100, maximum: 60_000, default: 5_000 },
        cooldown_ms: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 30_000 },
        cache_max_age_ms: { type: 'integer', minimum: 1_000, maximum: 86_400_000, default: 600_000 },
      },
    },
    oidc: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'issuer', 'client_id'],
        properties: {
          name,
          issuer: { type: 'string', pattern: '^https?://' },
          client_id: { type: 'string', minLength: 1 },
          client_secret: { type: 'string', minLength: 1 },
          scopes: { ...strings, default: ['openid', 'profile', 'email', 'offline_access'] },
          algorithms: asymmetricAlgs,
          subject_claim: { type: 'string', minLength: 1, default: 'sub' },
          subject_prefix: { type: 'string', default: '' },
          display_claim: { type: 'string', minLength: 1, default: 'email' },
          groups: groupMapping('groups'),
          bearer: {
            type: 'object',
            additionalProperties: false,
            required: ['audience'],
            properties: { audience: stringOrList },
          },
          device_flow: { type: 'boolean', default: true },
          jwks_uri: { type: 'string', pattern: '^https?://' },
        },
      },
    },
    saml: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'entry_point', 'idp_cert'],
        properties: {
          name,
          entry_point: { type: 'string', pattern: '^https?://' },
          idp_cert: stringOrList,
          idp_issuer: { type: 'string', minLength: 1 },
          sp_entity_id: { type: 'string', minLength: 1 },
          sp_private_key: { type: 'string', minLength: 1 },
          sp_cert: { type: 'string', minLength: 1 },
          name_id_format: { type: 'string', minLength: 1 },
          groups: groupMapping('groups'),
          display_attribute: { type: 'string', default: 'email' },
          subject_prefix: { type: 'string', default: '' },
          allow_unsolicited: { type: 'boolean', default: false },
          session_ttl_seconds: { type: 'integer', minimum: 300, maximum: 30 * 86_400, default: 12 * 3600 },
        },
      },
    },
    workload: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        issuers: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'issuer', 'audience'],
            properties: { name, issuer: { type: 'string', pattern: '^https?://' }, audience: stringOrList, algorithms: asymmetricAlgs, jwks_uri: { type: 'string', pattern: '^https?://' } },
          },
        },
        rules: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'issuer', 'match', 'subject'],
            properties: {
              name: { type: 'string', minLength: 1 },
              issuer: { type: 'string', minLength: 1 },
              match: { type: 'object', additionalProperties: stringOrList, minProperties: 1 },
              subject: { type: 'string', minLength: 1 },
              groups: { ...strings, default: [] },
              allow_direct: { type: 'boolean', default: false },
            },
          },
        },
      },
    },
  },
} as const;
