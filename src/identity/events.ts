/**
 * Authentication events, handed to the `emit` callback of createIdentity (the events module maps them to OCSF
 * Authentication and records them). Never carries a token, code, assertion or secret: only who, how and why.
 */
export type IdentityEventType =
  | 'auth.login.succeeded'
  | 'auth.login.failed'
  | 'auth.token.minted'
  | 'auth.token.refreshed'
  | 'auth.token.revoked'
  | 'auth.token.rejected'
  | 'auth.rate_limited';

export interface IdentityEvent {
  type: IdentityEventType;
  /** Epoch ms. */
  at: number;
  subject?: string;
  /** Closed-vocabulary reason (`expired`, `bad_signature`, `unknown_issuer`, `revoked`, …). */
  reason?: string;
  /** `oidc:<idp>`, `saml:<idp>`, `workload:<rule>`, `session`, `bearer:<idp>`. */
  source?: string;
  /** Session id / credential id — an identifier, never the secret. */
  credentialId?: string;
  sourceIp?: string;
  groups?: readonly string[];
  method?: 'code' | 'device' | 'saml' | 'refresh' | 'token_exchange' | 'bearer' | 'session';
}

export type EmitIdentityEvent = (event: IdentityEvent) => void;

/** Wraps a sink so a throwing listener cannot break authentication. */
export function safeEmitter(emit: EmitIdentityEvent): EmitIdentityEvent {
  return (e) => {
    try {
      emit(Object.freeze({ ...e }));
    } catch {
      /* sinks report their own failures; authentication must not depend on them */
    }
  };
}

/** The closed-vocabulary reason carried by a rejection error, for events. */
export function reasonFrom(err: unknown, fallback: string): string {
  if (typeof err !== 'object' || err === null) return fallback;
  const details = (err as { details?: Record<string, unknown> }).details;
  const code = (err as { code?: unknown }).code;
  return typeof details?.reason === 'string' ? details.reason : typeof code === 'string' ? code : fallback;
}
