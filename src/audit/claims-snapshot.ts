import { canonicalJson } from '../core/canonical-json.ts';
import type { Keyring } from '../crypto/keyring.ts';

/**
 * The caller's token claims that policy conditions read (`principal.claims`: the subset the identity module keeps,
 * never a token), recorded with the decision so that `policy simulate` replays a `claims.x` condition with the
 * values it was decided on. The values are personal data (e-mail, name, tenant), so they are sealed like the bodies
 * (`exchange-bodies` key, AAD bound to the exchange: a snapshot cannot be moved to another record); the names are
 * kept in clear for `exchanges explain`. Being in the decision, the snapshot is chained in the audit trail with it;
 * the SIEM mapping reads named decision fields only, so it never leaves in an event.
 */
export interface RecordedClaims {
  names: string[];
  /** base64 of the AES-256-GCM sealed RFC 8785 JSON of the claims. */
  sealed: string;
}

const aad = (exchangeId: string): string => `${exchangeId}/principal_claims`;

/** The snapshot of `claims`, or undefined when the caller has none (keys, login tokens: nothing to replay). */
export function sealClaims(keyring: Keyring, exchangeId: string, claims: Readonly<Record<string, unknown>> | undefined): RecordedClaims | undefined {
  if (!claims || Object.keys(claims).length === 0) return undefined;
  const text = canonicalJson(claims);
  return { names: Object.keys(claims).sort(), sealed: keyring.seal('exchange-bodies', Buffer.from(text), aad(exchangeId)).toString('base64') };
}

/**
 * The claims of a recorded decision: `{}` when none were recorded, undefined when a snapshot is there but cannot be
 * opened (another master key, tampered) — replaying without it could report false changes.
 */
export function openClaims(keyring: Keyring, exchangeId: string, recorded: unknown): Record<string, unknown> | undefined {
  if (recorded === undefined || recorded === null) return {};
  const sealed = (recorded as Partial<RecordedClaims>).sealed;
  if (typeof sealed !== 'string') return undefined;
  try {
    const v: unknown = JSON.parse(keyring.open('exchange-bodies', Buffer.from(sealed, 'base64'), aad(exchangeId)).toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
