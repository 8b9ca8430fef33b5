import { GatewayError } from '../../core/errors.ts';

/**
 * The scopes a verified access token grants: its `scope` claim, a space-delimited string (RFC 8693 §4.2, RFC 9068
 * §2.2.3), and `scp`, a string or an array of strings as some IdPs emit it (Microsoft Entra, Okta). Anything else in
 * those claims grants nothing.
 */
export function grantedScopes(claims: Readonly<Record<string, unknown>>): Set<string> {
  const granted = new Set<string>();
  const add = (v: unknown): void => {
    if (typeof v === 'string') for (const s of v.split(' ')) if (s.length > 0) granted.add(s);
  };
  add(claims.scope);
  if (Array.isArray(claims.scp)) for (const s of claims.scp) add(s);
  else add(claims.scp);
  return granted;
}

/**
 * Refuses a token that lacks one of `required` (every one must be granted; order and extra scopes do not matter):
 * `forbidden` (403) with reason `insufficient_scope` (RFC 6750 §3.1) — the token itself is valid, so this is not an
 * authentication failure. `subject` is the token's identity, for the rejection event.
 */
export function requireScopes(claims: Readonly<Record<string, unknown>>, required: readonly string[] | undefined, subject: string): void {
  if (!required || required.length === 0) return;
  const granted = grantedScopes(claims);
  if (required.every((s) => granted.has(s))) return;
  throw new GatewayError('forbidden', 'The token lacks a scope this endpoint requires.', { details: { reason: 'insufficient_scope', subject } });
}
