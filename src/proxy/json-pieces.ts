import { isAscii } from 'node:buffer';
import { skipString, skipValue, skipWs } from '../audit/body-split.ts';
import { parseJsonExact } from '../core/json-exact.ts';

/**
 * Parses a large JSON body without ever holding it as one JavaScript string. V8 puts a string longer than its
 * largest regular heap object (128 KiB, `kMaxRegularHeapObjectSize`) in the large-object space, on pages of its own
 * mapped for it and reclaimed by a full GC: measured here ≈ 5 µs per KB (≈ 1 ms for a 210 KB body) against
 * ≈ 0.05 µs per KB below the limit. A coding agent resends its whole conversation every turn and passes that limit
 * after a few dozen turns, so decoding the body as one string made each turn's CPU jump with the context.
 *
 * Here a container larger than PIECE_BYTES is taken apart at its members (object) or elements (array) with the raw
 * byte scan of src/audit/body-split.ts; each piece is decoded and parsed on its own (parseJsonExact: numbers a double
 * cannot hold stay exact) and the value is put back together. For valid JSON the result equals parseJsonExact of
 * the whole text — every piece of a valid document is a valid value, and the scan checks the punctuation around
 * the pieces. Anything else returns undefined: the caller parses the whole text, which accepts or refuses it
 * exactly as before (the piecewise path never decides that a body is invalid).
 *
 * The bytes must be valid UTF-8 (checked first by the caller): pieces are cut at ASCII punctuation, never inside a
 * multi-byte character.
 */
export const PIECE_BYTES = 48 * 1024;

/**
 * Whether the whole text would be a large-object string: over 128 KiB of one-byte characters, or over 64 Ki
 * characters when any is not ASCII (V8 may then store it two bytes a character). Below, one parse of the whole
 * text is cheaper than the scan.
 */
export function parsesBetterInPieces(raw: Buffer): boolean {
  return raw.length > 127 * 1024 || (raw.length > 63 * 1024 && !isAscii(raw));
}

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const QUOTE = 0x22;

/** Signals a document the scan does not take apart (then the whole text is parsed). */
class NotPiecewise extends Error {}

export function parseJsonPieces(b: Buffer): { value: unknown } | undefined {
  try {
    const s = skipWs(b, 0);
    const e = skipValue(b, s);
    if (e <= s || skipWs(b, e) !== b.length) return undefined;
    return { value: parseValue(b, s, e) };
  } catch {
    // Malformed somewhere, or nested deeper than this recursion goes: the whole-text parse decides.
    return undefined;
  }
}

/** `b[s, e)` is exactly one value, as skipValue delimited it. */
function parseValue(b: Buffer, s: number, e: number): unknown {
  if (e <= s) throw new NotPiecewise();
  const c = b[s]!;
  if (e - s > PIECE_BYTES && c === OPEN_OBJECT) return parseObject(b, s, e);
  if (e - s > PIECE_BYTES && c === OPEN_ARRAY) return parseArray(b, s, e);
  const text = b.toString('utf8', s, e);
  // parseJsonExact looks for lossy numbers after ':', ',' or '[': a piece that is a number alone gets a '['.
  return c === 0x2d || (c >= 0x30 && c <= 0x39) ? (parseJsonExact(`[${text}]`) as unknown[])[0] : parseJsonExact(text);
}

function parseObject(b: Buffer, s: number, e: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let i = skipWs(b, s + 1);
  if (b[i] === CLOSE_OBJECT) return end(i, e, out);
  for (;;) {
    if (b[i] !== QUOTE) throw new NotPiecewise();
    const keyEnd = skipString(b, i);
    if (keyEnd < 0) throw new NotPiecewise();
    const key = JSON.parse(b.toString('utf8', i, keyEnd)) as string;
    i = skipWs(b, keyEnd);
    if (b[i] !== COLON) throw new NotPiecewise();
    i = skipWs(b, i + 1);
    const valueEnd = skipValue(b, i);
    const value = parseValue(b, i, valueEnd);
    // As JSON.parse (CreateDataProperty): "__proto__" is an own property, not the prototype; the last duplicate wins.
    if (key === '__proto__') Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
    else out[key] = value;
    i = skipWs(b, valueEnd);
    if (b[i] === CLOSE_OBJECT) return end(i, e, out);
    if (b[i] !== COMMA) throw new NotPiecewise();
    i = skipWs(b, i + 1);
  }
}

/**
 * Elements are parsed in runs: consecutive elements that fit in one piece are parsed together as `[…]` (the bytes
 * between them are their commas), one decode and one parse per run instead of one per message.
 */
function parseArray(b: Buffer, s: number, e: number): unknown[] {
  const out: unknown[] = [];
  let i = skipWs(b, s + 1);
  if (b[i] === CLOSE_ARRAY) return end(i, e, out);
  let runStart = -1;
  let runEnd = -1;
  const flush = (): void => {
    if (runStart < 0) return;
    for (const v of parseJsonExact(`[${b.toString('utf8', runStart, runEnd)}]`) as unknown[]) out.push(v);
    runStart = -1;
  };
  for (;;) {
    const valueEnd = skipValue(b, i);
    if (valueEnd <= i) throw new NotPiecewise();
    if (valueEnd - i > PIECE_BYTES) {
      flush();
      out.push(parseValue(b, i, valueEnd));
    } else {
      if (runStart >= 0 && valueEnd - runStart > PIECE_BYTES) flush();
      if (runStart < 0) runStart = i;
      runEnd = valueEnd;
    }
    i = skipWs(b, valueEnd);
    if (b[i] === CLOSE_ARRAY) {
      flush();
      return end(i, e, out);
    }
    if (b[i] !== COMMA) throw new NotPiecewise();
    i = skipWs(b, i + 1);
  }
}

/** The closing bracket at `i` must be the last byte of the container (skipValue does not match bracket kinds). */
function end<T>(i: number, e: number, out: T): T {
  if (i + 1 !== e) throw new NotPiecewise();
  return out;
}
