import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Portcullis keys: `pcl_<8-char id>_<43-char secret>` (base64url, 256-bit secret). The id locates the row; only
 * SHA-256 of the secret is stored — a high-entropy secret needs no slow KDF, and a fast hash keeps the hot path
 * cheap. The recognisable prefix lets secret scanners (ours included) find leaked keys.
 */
export const KEY_PREFIX = 'pcl_';
const KEY_RE = /^pcl_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;

export interface MintedKey {
  id: string;
  secret: string;
  hash: string;
}

export function mintApiKey(): MintedKey {
  const id = randomBytes(8)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 8);
  const secretPart = randomBytes(32).toString('base64url');
  return { id, secret: `${KEY_PREFIX}${id}_${secretPart}`, hash: hashSecret(secretPart) };
}

export function parseApiKey(presented: string): { id: string; secretPart: string } | undefined {
  const m = KEY_RE.exec(presented);
  return m ? { id: m[1]!, secretPart: m[2]! } : undefined;
}

export function hashSecret(secretPart: string): string {
  return hash('sha256', secretPart, 'hex');
}

/** Checked on every request: one-shot hash, compared in constant time. */
export function secretMatches(secretPart: string, storedHash: string): boolean {
  const a = hash('sha256', secretPart, 'buffer');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
