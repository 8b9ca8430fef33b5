import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Minted Portcullis tokens are opaque: `pct_<session id>_<secret>` (access) and `pcr_<session id>_<secret>`
 * (refresh), 256-bit secrets, only SHA-256 of the secret stored. Opaque rather than a signed JWT because every
 * request must consult the session row anyway (revocation applies on the next request), so a signature would add
 * a key to manage and a parser attack surface (alg confusion) without saving the lookup. The id locates the row;
 * the prefix lets secret scanners recognise leaked tokens.
 */
export const ACCESS_PREFIX = 'pct_';
export const REFRESH_PREFIX = 'pcr_';
const TOKEN_RE = /^(pct|pcr)_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;

export interface ParsedToken {
  type: 'access' | 'refresh';
  sessionId: string;
  secret: string;
}

export function newSessionId(): string {
  return randomBytes(12).toString('hex');
}

export function mintSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function formatToken(type: 'access' | 'refresh', sessionId: string, secret: string): string {
  return `${type === 'access' ? ACCESS_PREFIX : REFRESH_PREFIX}${sessionId}_${secret}`;
}

export function parseToken(presented: string): ParsedToken | undefined {
  const m = TOKEN_RE.exec(presented);
  if (!m) return undefined;
  return { type: m[1] === 'pct' ? 'access' : 'refresh', sessionId: m[2]!, secret: m[3]! };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string | null): boolean {
  if (storedHash === null) return false;
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A random URL-safe handle (flow ids, one-time handoff codes). */
export function randomHandle(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
