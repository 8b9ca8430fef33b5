/**
 * JSON parsing that keeps every number's value exactly, so a body the gateway rewrites (usage probe, masking,
 * tokenization, templates, a reroute's model) reaches the provider with the numbers the client sent. A JavaScript
 * number is an IEEE 754 double: integers beyond 2^53 lose digits, 1e400 becomes Infinity (serialized `null`, which
 * providers read as "no limit"), -0 loses its sign, long decimals are rounded. Such a number is replaced by
 * `JSON.rawJSON(source)` (ES2026 "JSON.parse source text access", Node ≥ 22), which JSON.stringify writes back as
 * the client's exact text; every other number stays a plain number. Values equal to their re-serialization
 * (`1.0` → `1`, `1E2` → `100`) stay numbers: same value, canonical spelling.
 *
 * Cost: the reviver runs only when a cheap scan of the text finds a number token that could lose precision — 16+
 * digits (at most 15 significant decimal digits survive a double, IEEE 754 §5.12.2), a 3-digit exponent, or a
 * negative zero. Ordinary bodies take the plain JSON.parse (the scan costs a fraction of the parse; `npm run
 * bench` covers the request path).
 */
declare global {
  interface JSON {
    rawJSON(text: string): RawJson;
    isRawJSON(value: unknown): value is RawJson;
  }
}

/** A number kept as the client's text (frozen, null prototype, one own property). */
export interface RawJson {
  readonly rawJSON: string;
}

/** A number token (after `:`, `,` or `[`) with 16+ digits, a 3-digit exponent, or a negative zero. */
const MAYBE_LOSSY = /[:,[]\s*(?:-?\d(?:\.?\d){15}|-?\d+(?:\.\d+)?[eE][+-]?\d{3}|-0(?:\.0*)?(?:[eE][+-]?\d+)?\s*[,\]}])/;

interface ReviverContext {
  source?: string;
}

function keepExactNumbers(_key: string, value: unknown, context?: ReviverContext): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  return reSerializesExactly(context.source, value) ? value : JSON.rawJSON(context.source);
}

export function parseJsonExact(text: string): unknown {
  return MAYBE_LOSSY.test(text) ? JSON.parse(text, keepExactNumbers) : JSON.parse(text);
}

export const isRawJson = (v: unknown): v is RawJson => JSON.isRawJSON(v);

/**
 * A number read from a parsed body, kept exact or not: its value as a double (Infinity for what overflows), or
 * undefined when it is not a number. For code that reads numbers the gateway decides on (max_tokens, …).
 */
export function numberValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  return isRawJson(v) ? Number(v.rawJSON) : undefined;
}

function reSerializesExactly(source: string, value: number): boolean {
  if (!Number.isFinite(value) || Object.is(value, -0)) return false;
  const out = String(value);
  return out === source || canonicalDecimal(out) === canonicalDecimal(source);
}

const NUMBER = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** `sign digits e exponent` with no leading or trailing zeros in digits: equal strings ⇔ equal decimal values. */
function canonicalDecimal(s: string): string {
  const m = NUMBER.exec(s);
  if (!m) return s;
  const frac = m[3] ?? '';
  let digits = (m[2]! + frac).replace(/^0+/, '');
  if (digits === '') return '0';
  const significant = digits.replace(/0+$/, '');
  const exponent = BigInt(m[4] ?? 0) - BigInt(frac.length) + BigInt(digits.length - significant.length);
  digits = significant;
  return `${m[1]}${digits}e${exponent}`;
}
