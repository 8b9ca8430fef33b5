/**
 * Who is calling. Every exchange carries one (the identity seam): today it comes from a Portcullis key; OIDC,
 * SAML, minted tokens and CI workload identity produce the same shape.
 */
export type PrincipalKind = 'user' | 'service' | 'workload';
export type AuthMethod = 'api_key' | 'session_token' | 'oidc_jwt' | 'workload_jwt' | 'admin_token';

export interface Principal {
  /** Stable subject, e.g. `user:alice@example.com`, `service:nightly-etl`. */
  readonly subject: string;
  readonly kind: PrincipalKind;
  readonly displayName: string;
  readonly groups: readonly string[];
  /** Admin roles derived from groups (admin, policy-author, approver, auditor, user). */
  readonly roles: readonly string[];
  readonly authMethod: AuthMethod;
  /** Id of the credential used (key id, token id, jti) — never the secret itself. */
  readonly credentialId: string;
  /** Verified claims of an IdP/workload token, for policy conditions. */
  readonly claims?: Readonly<Record<string, unknown>>;
}
