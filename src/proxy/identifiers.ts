import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../core/errors.ts';
import { hasControlCharacters } from '../core/text.ts';

/**
 * Identifiers the gateway reads from a request — to route, to decide, to group sessions, to name records — must
 * not hide control characters (src/core/text.ts): a model `gpt-4o\u0000x` must not match the route `gpt-4o*`, and
 * a session id must not carry terminal escapes into views of the record. Refused with 400 in the caller's
 * protocol; the message names the field, never the value.
 */
const BODY_IDENTIFIERS: readonly (readonly string[])[] = [
  ['model'], ['user'], ['conversation'], ['conversation', 'id'],
  ['metadata', 'session_id'], ['metadata', 'conversation_id'], ['metadata', 'thread_id'], ['metadata', 'user_id'],
  ['metadata', 'portcullis_template'], ['metadata', 'portcullis_sensitivity'],
];

/** Free text rather than names: only what no HTTP field value may hold (C0 except HTAB, DEL) is refused. */
const FREE_TEXT_HEADERS = new Set(['x-portcullis-justification', 'x-portcullis-template-vars']);
// RFC 9110 §5.5: a field value is visible ASCII, SP, HTAB and obs-text (0x80–0xFF, read as ISO-8859-1 by Node).
const NOT_FIELD_TEXT = /[\x00-\x08\x0a-\x1f\x7f]/;

export function checkIdentifierHeaders(headers: IncomingHttpHeaders): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-portcullis-') || value === undefined) continue;
    const test = FREE_TEXT_HEADERS.has(name) ? (v: string) => NOT_FIELD_TEXT.test(v) : hasControlCharacters;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (test(v)) throw refuse(`The ${name} header`, name);
    }
  }
}

export function checkIdentifierFields(body: Readonly<Record<string, unknown>>): void {
  for (const path of BODY_IDENTIFIERS) {
    let v: unknown = body;
    for (const k of path) v = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
    if (typeof v === 'string' && hasControlCharacters(v)) throw refuse(`\`${path.join('.')}\``, path.join('.'));
  }
}

function refuse(what: string, param: string): GatewayError {
  return new GatewayError('invalid_request', `${what} contains control or invisible formatting characters.`, { details: { param } });
}
