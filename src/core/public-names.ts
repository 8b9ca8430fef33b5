/**
 * Every JSON the product shows (admin API answers, CLI `--json`, SIEM events, webhooks) spells its keys in
 * snake_case, nested objects included; the code and the stored records keep their own (camelCase) names. This is
 * the one conversion, applied by the views on the way out (docs/api.md#naming).
 *
 * Only identifier-like keys are renamed (`upstreamFirstByteMs` → `upstream_first_byte_ms`); keys that are data
 * (`EMAIL_ADDRESS`, a header name) do not look like camelCase and pass unchanged. Never apply it to recorded
 * bodies or to claim maps: their keys belong to the client or the identity provider.
 */
export function publicName(key: string): string {
  return CAMEL.test(key) ? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : key;
}

/** A camelCase identifier with at least one inner capital: `totalMs`, not `total`, `SECRET_KEY` or `x-id`. */
const CAMEL = /^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+$/;

/** A deep copy of a record's own structure (principal, decision, usage, timings, findings) with public names. */
export function withPublicNames<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => withPublicNames(v)) as T;
  if (value === null || typeof value !== 'object' || !isPlain(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[publicName(k)] = withPublicNames(v);
  return out as T;
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
