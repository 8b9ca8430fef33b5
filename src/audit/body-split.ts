/**
 * Finds, without parsing or copying, the byte ranges of a request body that an agent resends on every turn: each
 * element of the conversation array (`messages` of OpenAI Chat and Anthropic Messages, `input` of OpenAI Responses)
 * and the large top-level values that travel with it (`system`, `tools`, `instructions`). The recorder stores each
 * range once per conversation (src/audit/dedup.ts) and the exchange as the rest of the bytes plus references.
 *
 * The scan follows RFC 8259's grammar only as far as it needs to (strings with their escapes, nesting), over the raw
 * bytes, so reassembling the ranges gives back the client's exact bytes. Anything it does not recognise (not an
 * object, a truncated document) yields no ranges: the body is then stored whole, as before.
 */

/** A range smaller than this stays inline: a reference costs about as much as a short message. */
export const MIN_RANGE_BYTES = 128;

const ARRAY_KEYS = new Set(['messages', 'input']);
const VALUE_KEYS = new Set(['system', 'tools', 'instructions']);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** JSON's insignificant whitespace (RFC 8259 §2: space, line feed, carriage return, tab). */
export function isJsonWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && isJsonWs(b[i]!)) i++;
  return i;
}

/** `i` at an opening quote → the index after the closing quote; -1 if unterminated. */
export function skipString(b: Buffer, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, j);
    if (q < 0) return -1;
    // A quote preceded by an odd number of backslashes is escaped.
    let k = q - 1;
    while (k > i && b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** `i` at the first byte of a value → the index after it; -1 if malformed. */
export function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i);
  if (c !== 0x7b && c !== 0x5b) {
    // number, true, false, null: up to the next delimiter
    while (i < b.length) {
      const d = b[i]!;
      if (d === 0x2c || d === 0x7d || d === 0x5d || isJsonWs(d)) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  while (i < b.length) {
    const d = b[i]!;
    if (d === QUOTE) {
      i = skipString(b, i);
      if (i < 0) return -1;
      continue;
    }
    if (d === 0x7b || d === 0x5b) depth++;
    else if (d === 0x7d || d === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/**
 * The previous turn's scan of a conversation and how many leading bytes the new body shares with it. Within the
 * shared bytes the scan would take the same steps (every step reads only bytes before the end of what it skips), so
 * an element or value the previous scan delimited there is taken as is: the scan walks only what is new.
 */
export interface SplitHint {
  ranges: readonly (readonly [number, number])[];
  shared: number;
}

/** The hint's ranges in order, consumed as the scan advances. */
class KnownRanges {
  #k = 0;
  readonly #hint: SplitHint | undefined;

  constructor(hint: SplitHint | undefined) {
    this.#hint = hint;
  }

  /** The end of the value at `i` if the previous scan delimited it inside the shared bytes, else -1. */
  endAt(i: number): number {
    const h = this.#hint;
    if (!h) return -1;
    while (this.#k < h.ranges.length && h.ranges[this.#k]![0] < i) this.#k++;
    const r = h.ranges[this.#k];
    // Strictly before `shared`: the end of a number or literal is seen at the delimiter after it.
    return r && r[0] === i && r[1] < h.shared ? r[1] : -1;
  }
}

/** Records the ranges of an array's elements; `i` at its '['. Returns the index after its ']', -1 if malformed. */
function elementRanges(b: Buffer, i: number, out: [number, number][], known: KnownRanges): number {
  i = skipWs(b, i + 1);
  if (b[i] === 0x5d) return i + 1;
  while (i < b.length) {
    const k = known.endAt(i);
    const e = k >= 0 ? k : skipValue(b, i);
    if (e < 0) return -1;
    if (e - i >= MIN_RANGE_BYTES) out.push([i, e]);
    i = skipWs(b, e);
    if (b[i] === 0x5d) return i + 1;
    if (b[i] !== 0x2c) return -1;
    i = skipWs(b, i + 1);
  }
  return -1;
}

/**
 * The ranges to store by reference, in ascending order, or undefined when the body is not a JSON object this scan
 * understands. Keys are compared as written (a key spelled with escapes is simply not split). `hint`: the previous
 * turn's scan (same result, less work).
 */
export function splitRanges(b: Buffer, hint?: SplitHint): [number, number][] | undefined {
  const known = new KnownRanges(hint);
  let i = skipWs(b, 0);
  if (b[i] !== 0x7b) return undefined;
  const out: [number, number][] = [];
  i = skipWs(b, i + 1);
  if (b[i] === 0x7d) return out;
  while (i < b.length) {
    if (b[i] !== QUOTE) return undefined;
    const keyEnd = skipString(b, i);
    if (keyEnd < 0) return undefined;
    const key = keyEnd - i <= 16 ? b.toString('latin1', i + 1, keyEnd - 1) : '';
    i = skipWs(b, keyEnd);
    if (b[i] !== 0x3a) return undefined;
    i = skipWs(b, i + 1);
    let valueEnd: number;
    if (ARRAY_KEYS.has(key) && b[i] === 0x5b) {
      valueEnd = elementRanges(b, i, out, known);
    } else {
      const k = known.endAt(i);
      valueEnd = k >= 0 ? k : skipValue(b, i);
      if (VALUE_KEYS.has(key) && valueEnd - i >= MIN_RANGE_BYTES) out.push([i, valueEnd]);
    }
    if (valueEnd < 0) return undefined;
    i = skipWs(b, valueEnd);
    if (b[i] === 0x7d) return skipWs(b, i + 1) === b.length ? out : undefined;
    if (b[i] !== 0x2c) return undefined;
    i = skipWs(b, i + 1);
  }
  return undefined;
}

/** How many leading bytes `a` and `b` share: whole blocks compared natively, then the bytes of the first that differs. */
export function sharedPrefix(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  const BLOCK = 4096;
  let i = 0;
  while (i + BLOCK <= n && a.compare(b, i, i + BLOCK, i, i + BLOCK) === 0) i += BLOCK;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
