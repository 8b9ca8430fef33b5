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
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON has no representation for non-finite numbers');
      return JSON.stringify(value);
    case 'object':
      if (value === null) return 'null';
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
