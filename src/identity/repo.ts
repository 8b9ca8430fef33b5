import type { PrincipalKind } from '../core/principal.ts';

/**
 * Identity persistence port: login sessions behind minted tokens, pending login flows, and the SAML assertion
 * replay cache. SQLite implements it in src/store/sqlite/identity.ts; a PostgreSQL implementation must pass the
 * same suite (test/identity/repo-conformance.test.ts).
 */
export interface SessionRecord {
  id: string;
  subject: string;
  kind: PrincipalKind;
  displayName: string;
  groups: string[];
  /** Selected verified claims (no tokens), for policy conditions. */
  claims: Record<string, unknown>;
  /** `oidc:<idp>`, `saml:<idp>`, `workload:<rule>`. */
  source: string;
  authMethod: 'session_token' | 'workload_jwt';
  /** SHA-256 of the access token's secret part (hex). */
  accessHash: string;
  accessExpiresAt: number;
  /** The access token replaced by the last refresh stays valid until it expires (processes that already hold it). */
  prevAccessHash: string | null;
  prevAccessExpiresAt: number | null;
  /** SHA-256 of the refresh token's secret part; null = not refreshable. */
  refreshHash: string | null;
  /** The IdP's refresh token, sealed with keyring purpose `identity` (AAD = session id). */
  idpRefresh: Buffer | null;
  createdAt: number;
  refreshedAt: number | null;
  /** Absolute end of the session: no refresh extends past it. */
  expiresAt: number;
  revokedAt: number | null;
  revokedReason: string | null;
}

export interface SessionRotation {
  id: string;
  /** Compare-and-swap: the rotation applies only while the stored refresh hash is still this one. */
  expectedRefreshHash: string;
  accessHash: string;
  accessExpiresAt: number;
  prevAccessHash: string;
  prevAccessExpiresAt: number;
  refreshHash: string;
  idpRefresh: Buffer | null;
  groups: string[];
  claims: Record<string, unknown>;
  refreshedAt: number;
}

export interface IdentityRepo {
  createSession(rec: SessionRecord): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Returns false when the session was revoked or refreshed concurrently (refresh token reuse). */
  rotateSession(rot: SessionRotation): Promise<boolean>;
  /** Returns false when the session does not exist or was already revoked. */
  revokeSession(id: string, at: number, reason: string): Promise<boolean>;
  /** Revokes every live session of a subject; returns how many. */
  revokeSubject(subject: string, at: number, reason: string): Promise<number>;
  listSessions(filter: { subject?: string; activeAt?: number; limit?: number }): Promise<SessionRecord[]>;
  /** Pending login flow state (sealed). Overwrites. */
  putFlow(id: string, kind: string, sealed: Buffer, expiresAt: number): Promise<void>;
  getFlow(id: string, kind: string, now: number): Promise<Buffer | undefined>;
  /** Read and delete in one step: a flow state is single-use. */
  takeFlow(id: string, kind: string, now: number): Promise<Buffer | undefined>;
  /** Remembers a SAML assertion ID until `expiresAt`; false when it was already seen (replay). */
  rememberAssertion(id: string, expiresAt: number, now: number): Promise<boolean>;
  /** Drops expired flows, replay entries and long-dead sessions; returns rows deleted. */
  purge(now: number): Promise<number>;
}
