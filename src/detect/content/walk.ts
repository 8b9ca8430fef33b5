/**
 * Copy-on-write helpers for walking provider JSON: each returns its input unchanged (same reference) when no
 * text in it changed, and a shallow copy along the changed path otherwise, so unknown fields pass through
 * untouched and nothing is ever mutated (STYLE.md 6).
 */
import { isRawJson, parseJsonExact } from '../../core/json-exact.ts';
import type { TextKind, TextSink } from './types.ts';

export type Rec = Record<string, unknown>;

/** A JSON object; a number kept as exact text (src/core/json-exact.ts) is a leaf, not an object to walk. */
export function rec(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isRawJson(v) ? (v as Rec) : undefined;
}

/** `o[key] = f(o[key])` on a copy, if `o` is an object that has `key` and the value changed. */
export function mapKey(o: unknown, key: string, f: (v: unknown) => unknown): unknown {
  const r = rec(o);
  if (!r || !(key in r)) return o;
  const before = r[key];
  const after = f(before);
  return after === before ? o : { ...r, [key]: after };
}

/** Several keys at once. */
export function mapKeys(o: unknown, fs: Record<string, (v: unknown) => unknown>): unknown {
  let out = o;
  for (const [k, f] of Object.entries(fs)) out = mapKey(out, k, f);
  return out;
}

export function mapArray(a: unknown, f: (item: unknown, i: number) => unknown): unknown {
  if (!Array.isArray(a)) return a;
  let out: unknown[] | undefined;
  for (let i = 0; i < a.length; i++) {
    const before: unknown = a[i];
    const after = f(before, i);
    if (after !== before) {
      out ??= [...(a as unknown[])];
      out[i] = after;
    }
  }
  return out ?? a;
}

export function mapStr(v: unknown, path: string, sink: TextSink, kind: TextKind = 'text'): unknown {
  return typeof v === 'string' ? sink.text(v, path, kind) : v;
}

/** A content field that is a string or an array of parts; every part's string `text` is a text. */
export function mapParts(v: unknown, path: string, sink: TextSink): unknown {
  if (typeof v === 'string') return sink.text(v, path, 'text');
  return mapArray(v, (p, i) =>
    mapKeys(p, {
      text: (t) => mapStr(t, `${path}[${i}].text`, sink),
      refusal: (t) => mapStr(t, `${path}[${i}].refusal`, sink),
    }),
  );
}

/** Every string leaf of a JSON value (tool_use input, parsed arguments); keys are not content. */
export function mapLeaves(v: unknown, path: string, sink: TextSink): unknown {
  if (typeof v === 'string') return sink.text(v, path, 'text');
  if (Array.isArray(v)) return mapArray(v, (x, i) => mapLeaves(x, `${path}/${i}`, sink));
  const r = rec(v);
  if (!r) return v;
  let out: Rec | undefined;
  for (const [k, x] of Object.entries(r)) {
    const after = mapLeaves(x, `${path}/${escapePointer(k)}`, sink);
    if (after !== x) {
      out ??= { ...r };
      out[k] = after;
    }
  }
  return out ?? r;
}

/**
 * A string holding JSON (OpenAI tool-call `arguments`): parsed so escaped values are seen decoded, string
 * leaves transformed (paths `…arguments#/key`), re-serialized only when something changed. Text that is not a
 * JSON object or array is scanned raw.
 */
export function mapEmbeddedJson(v: unknown, path: string, sink: TextSink): unknown {
  if (typeof v !== 'string') return v;
  let parsed: unknown;
  try {
    parsed = parseJsonExact(v);
  } catch {
    return sink.text(v, path, 'json');
  }
  if (typeof parsed !== 'object' || parsed === null) return sink.text(v, path, 'json');
  const after = mapLeaves(parsed, `${path}#`, sink);
  return after === parsed ? v : JSON.stringify(after);
}

/** `description` strings anywhere in a JSON Schema (tool parameters). */
export function mapDescriptions(v: unknown, path: string, sink: TextSink): unknown {
  if (Array.isArray(v)) return mapArray(v, (x, i) => mapDescriptions(x, `${path}[${i}]`, sink));
  const r = rec(v);
  if (!r) return v;
  let out: Rec | undefined;
  for (const [k, x] of Object.entries(r)) {
    const p = `${path}.${k}`;
    const after = k === 'description' && typeof x === 'string' ? sink.text(x, p, 'text') : mapDescriptions(x, p, sink);
    if (after !== x) {
      out ??= { ...r };
      out[k] = after;
    }
  }
  return out ?? r;
}

/** A function/tool definition: its description and its parameter schema's descriptions. */
export function mapToolDef(t: unknown, path: string, sink: TextSink, schemaKey: string): unknown {
  return mapKeys(t, {
    description: (d) => mapStr(d, `${path}.description`, sink),
    [schemaKey]: (s) => mapDescriptions(s, `${path}.${schemaKey}`, sink),
  });
}

function escapePointer(k: string): string {
  return k.replace(/~/g, '~0').replace(/\//g, '~1');
}
