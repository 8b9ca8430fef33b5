import type { GroupMappingConfig } from './config-schema.ts';

/** Reads a dot path (`realm_access.roles`) from claims; a literal key containing dots wins (e.g. URI claim names). */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const MAX_GROUPS = 512;
const MAX_GROUP_LENGTH = 256;

/**
 * Groups from a claim or attribute value: an array of strings, or one string (some IdPs send a single group as a
 * string). Non-strings are ignored rather than coerced, so `{"groups": [{"admin": true}]}` maps to nothing.
 */
export function mapGroups(value: unknown, m: GroupMappingConfig): string[] {
  const raw = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  const out = new Set<string>();
  for (const v of raw) {
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_GROUP_LENGTH) continue;
    if (m.include.length > 0 && !m.include.some((g) => globMatch(g, v))) continue;
    if (m.exclude.some((g) => globMatch(g, v))) continue;
    out.add(m.prefix + v);
    if (out.size >= MAX_GROUPS) break;
  }
  for (const a of m.add) out.add(a);
  return [...out].sort();
}

const globCache = new Map<string, RegExp>();

/** `*` any run, `?` one character; everything else literal; whole-string match. Linear-time (no backtracking blowup on these patterns). */
export function globMatch(pattern: string, value: string): boolean {
  let re = globCache.get(pattern);
  if (!re) {
    re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*+/g, '.*').replace(/\?/g, '.') + '$', 's');
    if (globCache.size < 10_000) globCache.set(pattern, re);
  }
  return re.test(value);
}
