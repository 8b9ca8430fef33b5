import { canonicalJson } from '../core/canonical-json.ts';
import type { Keyring } from '../crypto/keyring.ts';

/**
 * What the gateway relayed with one `input_required` result (SEP-2322 multi round-trip requests) to a 2026-07-28
 * caller, carried by that caller in place of the server's `requestState` and echoed in its retry.
 */
export interface RoundTrip {
  /** The server's own `requestState`, byte for byte; null when it sent none. */
  state: string | null;
  subject: string;
  server: string;
  /** The request's method and tool, prompt or resource name (input-responses.ts `roundTripOf`). */
  roundTrip: string;
  /** The embedded requests the gateway let through: key → method (says how the answer is scanned). */
  requests: Record<string, string>;
  /** Epoch ms after which the retry is refused. */
  expires: number;
}

const PREFIX = 'pcr1.';
/** The AAD: a value sealed for another version of this envelope never opens as this one. */
const AAD = 'mcp-input-round-trip/v1';
const DEFAULT_TTL_MS = 60 * 60_000;

/** Whether a `requestState` is (or claims to be) a gateway envelope: such a value is never passed on unopened. */
export const isEnvelope = (v: unknown): v is string => typeof v === 'string' && v.startsWith(PREFIX);

/**
 * The gateway's envelope of a multi round-trip request: AES-256-GCM (src/crypto/keyring.ts, key purpose `mcp-round-trip`,
 * derived from the master key) over the canonical JSON (RFC 8785) of a `RoundTrip`, as `pcr1.<base64url>`. Any
 * replica with the same master key opens it, so a retry needs no state on the replica that relayed the request
 * (docs/fleet.md); the caller can neither read the server's state inside nor change a byte of it. Encrypted rather
 * than only signed: the server's state stays as opaque to the agent as the server made it, unscanned.
 */
export class RoundTripEnvelopes {
  readonly #keyring: Pick<Keyring, 'seal' | 'open'>;
  readonly #ttlMs: number;

  constructor(keyring: Pick<Keyring, 'seal' | 'open'>, o: { ttlMs?: number } = {}) {
    this.#keyring = keyring;
    this.#ttlMs = o.ttlMs ?? DEFAULT_TTL_MS;
  }

  seal(rt: Omit<RoundTrip, 'expires'>, now: number): string {
    const plain = canonicalJson({ ...rt, expires: now + this.#ttlMs });
    return PREFIX + this.#keyring.seal('mcp-round-trip', Buffer.from(plain, 'utf8'), AAD).toString('base64url');
  }

  /** The round trip sealed in `text`, or undefined when the gateway did not seal it (forged, altered, malformed). */
  open(text: string): RoundTrip | undefined {
    if (!isEnvelope(text)) return undefined;
    const b64 = text.slice(PREFIX.length);
    if (!/^[A-Za-z0-9_-]+$/.test(b64)) return undefined;
    const sealed = Buffer.from(b64, 'base64url');
    // One encoding only: a text whose unused trailing bits differ would otherwise open as the same envelope.
    if (sealed.toString('base64url') !== b64) return undefined;
    let plain: unknown;
    try {
      plain = JSON.parse(this.#keyring.open('mcp-round-trip', sealed, AAD).toString('utf8'));
    } catch {
      return undefined;
    }
    return roundTripOf(plain);
  }
}

/** The sealed value's shape checked again (a key shared by several versions of the gateway must not be trusted blindly). */
function roundTripOf(v: unknown): RoundTrip | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const requests = r.requests;
  if (typeof requests !== 'object' || requests === null || Array.isArray(requests)) return undefined;
  if (!Object.values(requests).every((m) => typeof m === 'string')) return undefined;
  if ((r.state !== null && typeof r.state !== 'string') || typeof r.subject !== 'string' || typeof r.server !== 'string'
    || typeof r.roundTrip !== 'string' || typeof r.expires !== 'number') return undefined;
  return { state: r.state, subject: r.subject, server: r.server, roundTrip: r.roundTrip, requests: requests as Record<string, string>, expires: r.expires };
}
