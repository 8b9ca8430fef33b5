import { isUtf8 } from 'node:buffer';
import { GatewayError } from './errors.ts';

/**
 * Request bytes as text. JSON exchanged between systems must be UTF-8 (RFC 8259 §8.1); decoding invalid bytes
 * with replacement characters would let the scanners and the record read one text while the provider, which gets
 * the raw bytes, reads another — so invalid UTF-8 is refused (400), never repaired. `isUtf8` validates in place,
 * without a copy.
 */
export function utf8Text(buf: Buffer, what = 'Request body'): string {
  if (!isUtf8(buf)) throw new GatewayError('invalid_json', `${what} is not valid UTF-8 (JSON must be UTF-8, RFC 8259 §8.1).`);
  return buf.toString('utf8');
}

/**
 * Characters no identifier may hold: C0 and C1 controls and DEL (`Cc`), Unicode format controls (`Cf`: bidi
 * embeddings, overrides and isolates, zero-width characters, the BOM, tag characters) and the line and paragraph
 * separators. They let a name look like another (a route, a record, a terminal line) while being different.
 */
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

export function hasControlCharacters(s: string): boolean {
  return CONTROL.test(s);
}
