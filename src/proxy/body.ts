import { isUtf8 } from 'node:buffer';
import { GatewayError } from '../core/errors.ts';
import { parseJsonExact } from '../core/json-exact.ts';
import { utf8Text } from '../core/text.ts';
import { parseJsonPieces, parsesBetterInPieces } from './json-pieces.ts';

/**
 * Parses a JSON object body; errors say what is wrong without echoing the body. Numbers a double cannot hold stay
 * the client's exact text (src/core/json-exact.ts), so a rewritten body carries them unchanged.
 */
export function parseJsonObject(raw: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (contentType && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new GatewayError('unsupported_media_type', 'Request body must be JSON (Content-Type: application/json).');
  }
  let value: unknown;
  try {
    // A large body is parsed in pieces, never decoded as one string (json-pieces.ts: V8's large-object cost).
    const pieces = parsesBetterInPieces(raw) && isUtf8(raw) ? parseJsonPieces(raw) : undefined;
    value = pieces ? pieces.value : parseJsonExact(utf8Text(raw));
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    // The parser's message quotes the body; the body may hold secrets, so it is never echoed.
    throw new GatewayError('invalid_json', 'Request body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayError('invalid_request', 'Request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}
