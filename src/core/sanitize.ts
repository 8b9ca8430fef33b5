import { createHmac, hkdfSync } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Field hygiene for events (PRODUCT.md: no secret ever leaves the gateway). Every string that reaches an event
 * either comes from a closed vocabulary / operator config, or passes through one of these filters, because a
 * client controls the model name, the user agent, tool names and JSON keys — and a careless tool can put a key in
 * any of them. Values that fail a filter are replaced by a keyed hash (HMAC-SHA256 with a key derived from the
 * master key), which lets an analyst correlate equal values without learning them.
 */
export interface FieldHasher {
  /** `hmac:<16 hex>` of a value: stable per gateway key, useless without it. */
  hash(value: string): string;
}

export function createFieldHasher(secret: Uint8Array): FieldHasher {
  if (secret.length < 16) throw new TypeError('events hash key must be at least 16 bytes');
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'portcullis events keyed hash v1', 32));
  return { hash: (v) => 'hmac:' + createHmac('sha256', key).update(v).digest('hex').slice(0, 16) };
}

const IDENT = /^[A-Za-z0-9][A-Za-z0-9._:@/+|-]{0,127}$/;
// Shapes of credentials that must never appear even inside an identifier-looking string.
const SECRET_SHAPES: readonly RegExp[] = [
  /(?:^|[^a-z])(?:sk|pk|rk)[-_]/i, // OpenAI/Anthropic/Stripe-style keys
  /pcl_/i, // Portcullis keys
  /^(?:gh[pousr]|github_pat)_/i,
  /xox[abprs]-/i, // Slack
  /AKIA[0-9A-Z]{12,}/, // AWS access key id
  /eyJ[A-Za-z0-9_-]{8,}/, // JWT / base64 JSON
  /-----BEGIN/,
  /AIza[0-9A-Za-z_-]{20,}/, // Google API key
];

/** True when a string has the prefix of a known credential format. */
export function hasSecretShape(v: string): boolean {
  return SECRET_SHAPES.some((re) => re.test(v));
}

/**
 * True when a string looks like a credential: a known key prefix, or a run of 20+ characters without separators
 * (model names and versions are short dash-separated words; keys, hex and base64 tokens are long unbroken runs)
 * that mixes character classes with high entropy.
 */
export function looksSecret(v: string): boolean {
  if (hasSecretShape(v)) return true;
  for (const run of v.match(/[A-Za-z0-9+/=_]{20,}/g) ?? []) {
    const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(run)).length;
    if (classes >= 2 && entropyBits(run) >= 3) return true;
  }
  return false;
}

function entropyBits(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * An identifier (subject, group, rule id, model, provider, finding type) as-is when it is a plain identifier that
 * does not look like a credential; otherwise its keyed hash. Returns undefined for empty input.
 */
export function safeIdent(v: unknown, h: FieldHasher): string | undefined {
  if (typeof v !== 'string' || v.length === 0) return undefined;
  return IDENT.test(v) && !looksSecret(v) ? v : h.hash(v);
}

/**
 * A name established by a verified identity (subject, group, credential id, operator-configured rule id): the
 * charset and known key prefixes are checked, but not entropy, since IdP user ids are often random-looking.
 */
export function safeName(v: unknown, h: FieldHasher): string | undefined {
  if (typeof v !== 'string' || v.length === 0) return undefined;
  return IDENT.test(v) && !hasSecretShape(v) ? v : h.hash(v);
}

/** A person's display name from a verified identity ("Alice Martin", "José Núñez-Ortiz", "O'Brien, Pat"). */
const DISPLAY_NAME = /^[\p{L}\p{M}][\p{L}\p{M}0-9 .,'@_-]{0,127}$/u;

/** A display name in clear when it reads like one (letters, spaces, common punctuation); anything else is hashed. */
export function safeDisplayName(v: unknown, h: FieldHasher): string | undefined {
  if (typeof v !== 'string' || v.length === 0) return undefined;
  return DISPLAY_NAME.test(v) && !hasSecretShape(v) ? v : safeName(v, h);
}

const URL_PATH = /^\/[A-Za-z0-9._~/-]{0,200}$/;

/**
 * A request path (`/v1/chat/completions`) as-is when it uses only unreserved URL characters and `/` (no query, no
 * percent-encoding) and none of its segments looks like a credential; otherwise its keyed hash. Segments are
 * checked one by one: the path as a whole is one long run of letters, digits and `/`.
 */
export function safePath(v: unknown, h: FieldHasher): string | undefined {
  if (typeof v !== 'string' || v.length === 0) return undefined;
  return URL_PATH.test(v) && !v.split('/').some((seg) => looksSecret(seg)) ? v : h.hash(v);
}

export function safeNames(v: unknown, h: FieldHasher, max = 64): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const x of v.slice(0, max)) {
    const s = safeName(x, h);
    if (s !== undefined) out.push(s);
  }
  return out;
}

/** A literal IP address or undefined (never a hostname or header text). */
export function safeIp(v: unknown): string | undefined {
  return typeof v === 'string' && isIP(v) !== 0 ? v : undefined;
}

const UA_TOKEN = /^[A-Za-z0-9][A-Za-z0-9._/+-]{0,47}$/;

/**
 * The user agent reduced to its product tokens (`name/version`, RFC 9110 §10.1.5): comments in parentheses are
 * dropped, and so is every token that is not a plain identifier or looks like a credential. The full header is
 * kept only as a keyed hash.
 */
export function safeUserAgent(v: unknown, h: FieldHasher): { name: string; hash: string } | undefined {
  if (typeof v !== 'string' || v.length === 0) return undefined;
  const products = v.replace(/\([^)]*\)?/g, ' ').split(/\s+/).filter((t) => UA_TOKEN.test(t) && !looksSecret(t)).slice(0, 6);
  return { name: products.join(' '), hash: h.hash(v) };
}

/**
 * Free text written for a person (an approval justification, a break-glass reason): kept readable, but every
 * whitespace-separated word that looks like a credential is replaced by its keyed hash.
 */
export function redactSecrets(text: string, h: FieldHasher): string {
  return text.replace(/\S+/g, (w) => (looksSecret(w) ? h.hash(w) : w));
}

/** safeIdent over a list (client-influenced codes and types). */
export function safeIdents(v: unknown, h: FieldHasher, max = 64): string[] {
  if (!Array.isArray(v)) return [];
  return v.slice(0, max).map((x) => safeIdent(x, h)).filter((x) => x !== undefined);
}
