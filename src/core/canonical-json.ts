import { isRawJson } from './json-exact.ts';

/**
 * JSON Canonicalization Scheme (RFC 8785) for the values the gateway hashes and signs (audit entries, approval
 * request digests): object keys sorted by UTF-16 code units (what `Array.prototype.sort` does), no whitespace,
 * ECMAScript number and string serialization (`JSON.stringify`). Members whose value is `undefined` are left out
 * and `undefined` array items print as `null`, as `JSON.stringify` does; values JSON cannot carry (non-finite
 * numbers, functions, bigints, symbols) throw instead of being guessed at.
 *
 * Written as loops over one output string: it runs for every audit entry, on the store's hot path.
 */
export function canonicalJson(value: unknown): string {
  // Fast path: a value whose objects already list their keys in canonical order is what JSON.stringify prints.
  // The gateway builds its audit payloads that way, so the common case is one native call.
  if (typeof value === 'object' && value !== null && isCanonicallyOrdered(value, 0)) return JSON.stringify(value);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON has no representation for non-finite numbers');
      return JSON.stringify(value);
    case 'object':
      if (value === null) return 'null';
      // A number kept as the client's exact text (src/core/json-exact.ts) prints as that text, as JSON.stringify does.
      if (isRawJson(value)) return value.rawJSON;
      return Array.isArray(value) ? canonicalArray(value) : canonicalObject(value as Record<string, unknown>);
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

function canonicalArray(items: readonly unknown[]): string {
  let out = '[';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    const v = items[i];
    out += v === undefined ? 'null' : canonicalJson(v);
  }
  return out + ']';
}

function canonicalObject(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(k)}:${canonicalJson(v)}`;
  }
  return out + '}';
}

/**
 * True when JSON.stringify(value) is already canonical: plain objects and arrays only (no toJSON, no prototypes),
 * object keys strictly ascending by UTF-16 code units, no undefined anywhere, only finite numbers. Gives up (false)
 * past a small depth so a deep value takes the general path instead of being walked twice.
 */
function isCanonicallyOrdered(v: object, depth: number): boolean {
  if (depth > 8) return false;
  if (Array.isArray(v)) {
    for (const item of v) if (!isOrderedValue(item, depth)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  let prev: string | undefined;
  for (const k in v) {
    if (!Object.hasOwn(v, k)) return false;
    if (prev !== undefined && !(prev < k)) return false;
    prev = k;
    if (!isOrderedValue((v as Record<string, unknown>)[k], depth)) return false;
  }
  return true;
}

function isOrderedValue(x: unknown, depth: number): boolean {
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(x);
    case 'object':
      return x === null || isCanonicallyOrdered(x, depth + 1);
    default:
      return false;
  }
}
