import { createFieldHasher, safeIdent, safeIp, safeUserAgent, type FieldHasher } from '../core/sanitize.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { StartRecord } from './recorder.ts';

/** Distinct values remembered per field (cleared when full). */
const CACHE_MAX = 512;

/**
 * What the exchange record keeps of the strings a client controls (docs/audit.md#what-is-stored-in-clear). The
 * record's metadata is stored and chained in clear (only bodies are sealed), so a credential a client puts in its
 * user agent, model name or `X-Forwarded-For` would sit readable in the database and every backup. Each field
 * goes through the same filters as the SIEM events (src/core/sanitize.ts), keyed with the events key so a hashed
 * value matches the `hmac:` an analyst sees in the SIEM:
 * - user agent: its product tokens (`name/version`, RFC 9110 §10.1.5); comments and any token that is not a plain
 *   identifier or looks like a credential are dropped, and then the keyed hash of the whole header follows in
 *   parentheses (a comment, so the value still parses as a user agent);
 * - model and upstream model: as sent when a plain identifier that does not look like a credential, else `hmac:…`;
 * - client IP: only a literal address (the first `X-Forwarded-For` hop is client text when the proxy is trusted).
 * Subject, principal and groups come from a verified identity; endpoint, path, provider and codes from the gateway.
 */
export type CleanFields = Pick<StartRecord, 'userAgent' | 'model' | 'upstreamModel' | 'clientIp'>;

export function createRecordHygiene(keyring: Keyring): (rec: CleanFields) => CleanFields {
  const h = createFieldHasher(keyring.key('events').export());
  const userAgent = memo((raw) => storedUserAgent(raw, h));
  const ident = memo((v) => safeIdent(v, h) ?? v);
  return (rec) => ({
    userAgent: rec.userAgent ? userAgent(rec.userAgent) : null,
    model: rec.model === null ? null : ident(rec.model),
    upstreamModel: rec.upstreamModel === null ? null : ident(rec.upstreamModel),
    clientIp: rec.clientIp === null ? null : (safeIp(rec.clientIp) ?? null),
  });
}

/** Clients repeat their user agent and model on every request: each distinct value is filtered once (bounded). */
function memo(f: (v: string) => string): (v: string) => string {
  const seen = new Map<string, string>();
  return (v) => {
    let out = seen.get(v);
    if (out === undefined) {
      out = f(v);
      if (seen.size >= CACHE_MAX) seen.clear();
      seen.set(v, out);
    }
    return out;
  };
}

function storedUserAgent(raw: string, h: FieldHasher): string {
  const ua = safeUserAgent(raw, h)!;
  // Nothing dropped: the header was only clean product tokens, kept as sent.
  if (ua.name === raw) return raw;
  return ua.name ? `${ua.name} (${ua.hash})` : ua.hash;
}
