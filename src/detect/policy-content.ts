/**
 * The `content` section of a policy document: which detectors run, custom detectors, and the rules that turn
 * findings into actions per direction. `contentSectionSchema` is embedded by the policy document schema;
 * `validateContentSection` reports problems by key path (the policy loader adds file and line);
 * `compileContentPolicy` builds the guard's `ContentPolicy` once per policy version.
 */
import { Ajv } from 'ajv';
import type { Direction, Finding } from '../core/findings.ts';
import type { ContentPolicy } from '../governance/guard.ts';
import type { ActionDecision, MaskStyle } from './actions.ts';
import { VALIDATORS, type CustomDetectorSpec } from './detectors/custom.ts';
import type { Detector } from './detectors/types.ts';
import { compileScanner, type CompiledScanner, type ScannerSpec } from './scanner.ts';
import type { Action } from './types.ts';

export interface ContentContext {
  words: string[];
  boost: number;
}

export interface ContentCustomDetector {
  id: string;
  type: string;
  /** RE2 syntax (linear time): no backreferences or lookaround. */
  pattern?: string;
  words?: string[];
  case_insensitive?: boolean;
  case_sensitive?: boolean;
  whole_words?: boolean;
  group?: number | string;
  validator?: string;
  max_length?: number;
  score?: number;
  context?: ContentContext;
}

export interface ContentRule {
  id: string;
  /** Finding types, `PREFIX_*` globs, or '*' for every type. */
  types: string[] | '*';
  direction?: Direction | 'both';
  action: Action;
  mask?: 'label' | 'partial' | 'hash';
  keep_last?: number;
  mask_char?: string;
  hash_length?: number;
  /** The rule applies only to findings at least this confident. */
  min_score?: number;
}

export interface ContentSection {
  detectors?: {
    builtins?: 'all' | 'none' | string[];
    disable?: string[];
    min_score?: number;
    phone_regions?: string[];
    decode_blobs?: boolean;
  };
  custom?: ContentCustomDetector[];
  rules?: ContentRule[];
  /** What happens to an unbounded match (PEM, JWT) that never ends within its cap in a stream. Default mask. */
  unterminated?: 'block' | 'mask';
  /**
   * Entity types asked of the gateway's external recognizer (e.g. a Presidio analyzer for PERSON, LOCATION);
   * its address and timeout are gateway configuration. Request side only.
   */
  external?: { entities: string[]; min_score?: number };
}

const id = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } as const;
const type = { type: 'string', pattern: '^[A-Z][A-Z0-9_]{0,63}$' } as const;
const score = { type: 'number', minimum: 0, maximum: 1 } as const;
const context = {
  type: 'object', additionalProperties: false, required: ['words', 'boost'],
  properties: { words: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, minItems: 1, maxItems: 100 }, boost: { type: 'number', minimum: -1, maximum: 1 } },
} as const;

/** JSON Schema (draft-07 subset, ajv) of the `content` section. */
export const contentSectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    detectors: {
      type: 'object',
      additionalProperties: false,
      properties: {
        builtins: { anyOf: [{ enum: ['all', 'none'] }, { type: 'array', items: { type: 'string', minLength: 1 } }], description: 'built-in detector ids or finding types to run (default all)' },
        disable: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'built-in detector ids or types to leave out' },
        min_score: { ...score, description: 'findings below this score are dropped (default 0.5)' },
        phone_regions: { type: 'array', items: { type: 'string', pattern: '^[A-Z]{2}$' }, minItems: 1, description: 'regions for national-format phone numbers, default first' },
        decode_blobs: { type: 'boolean', description: 'look inside base64/hex blobs for secrets (default true)' },
      },
    },
    custom: {
      type: 'array',
      maxItems: 200,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'type'],
        oneOf: [{ required: ['pattern'] }, { required: ['words'] }],
        properties: {
          id, type,
          pattern: { type: 'string', minLength: 1, maxLength: 2000 },
          words: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, minItems: 1, maxItems: 100000 },
          case_insensitive: { type: 'boolean' },
          case_sensitive: { type: 'boolean' },
          whole_words: { type: 'boolean' },
          group: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', minLength: 1 }] },
          validator: { enum: Object.keys(VALIDATORS) },
          max_length: { type: 'integer', minimum: 1, maximum: 1024 },
          score,
          context,
        },
      },
    },
    rules: {
      type: 'array',
      maxItems: 500,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'types', 'action'],
        properties: {
          id,
          types: { anyOf: [{ const: '*' }, { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(\\*|[A-Z][A-Z0-9_]{0,63}\\*?)$' } }] },
          direction: { enum: ['request', 'response', 'both'] },
          action: { enum: ['flag', 'mask', 'redact', 'block', 'tokenize'] },
          mask: { enum: ['label', 'partial', 'hash'] },
          keep_last: { type: 'integer', minimum: 0, maximum: 16 },
          mask_char: { type: 'string', minLength: 1, maxLength: 1 },
          hash_length: { type: 'integer', minimum: 4, maximum: 64 },
          min_score: score,
        },
      },
    },
    unterminated: { enum: ['block', 'mask'] },
    external: {
      type: 'object', additionalProperties: false, required: ['entities'],
      properties: { entities: { type: 'array', minItems: 1, items: type }, min_score: score },
      description: 'entity types asked of the external recognizer (request side)',
    },
  },
} as const;

/** A problem in the section, by key path relative to it (same shape as the policy loader's PolicyIssue). */
export interface ContentIssue {
  path: string;
  message: string;
}

export class ContentSectionError extends TypeError {
  readonly issues: ContentIssue[];
  constructor(issues: ContentIssue[]) {
    super(`invalid content section: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.issues = issues;
  }
}

export interface CompileContentOptions {
  /** Key for `mask: hash` (HMAC-SHA256). Required when a rule uses it; keep it out of the policy file. */
  readonly hashKey?: string | Uint8Array;
  /** Detectors the gateway adds to every policy's scanner (the optional names recognizer, config detection.names). */
  readonly extraDetectors?: readonly Detector[];
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validateShape = ajv.compile<ContentSection>(contentSectionSchema);

/** Every problem in `section`, or [] when it compiles. */
export function validateContentSection(section: unknown, opts: CompileContentOptions = {}): ContentIssue[] {
  try {
    compileContentPolicy(section, opts);
    return [];
  } catch (err) {
    if (err instanceof ContentSectionError) return err.issues;
    throw err;
  }
}

export interface CompiledContentPolicy extends ContentPolicy {
  readonly scanner: CompiledScanner;
  /** Present when the section asks the external recognizer for entity types. */
  readonly external?: { readonly entities: readonly string[]; readonly minScore: number };
}

/** Validate and compile. Throws ContentSectionError listing every problem. */
export function compileContentPolicy(section: unknown, opts: CompileContentOptions = {}): CompiledContentPolicy {
  if (!validateShape(section)) {
    throw new ContentSectionError((validateShape.errors ?? []).map((e) => ({ path: pathOf(e.instancePath), message: e.message ?? 'invalid' })));
  }
  const s = section;
  const issues: ContentIssue[] = [];
  let scanner: CompiledScanner | undefined;
  try {
    scanner = compileScanner({ ...scannerSpec(s), extra: opts.extraDetectors ?? [] });
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    issues.push({ path: err.message.startsWith('custom detector') ? 'custom' : 'detectors', message: err.message });
  }
  const rules = s.rules ?? [];
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (seen.has(r.id)) issues.push({ path: `rules[${i}].id`, message: `duplicate rule id ${r.id}` });
    seen.add(r.id);
    if (r.mask === 'hash' && !opts.hashKey) issues.push({ path: `rules[${i}].mask`, message: 'mask: hash needs a hash key from the gateway config' });
    if (r.mask !== undefined && r.action !== 'mask') issues.push({ path: `rules[${i}].mask`, message: 'mask style applies only to action mask' });
    if (scanner && r.types !== '*') {
      r.types.forEach((t, k) => {
        if (!t.endsWith('*') && !scanner.types.includes(t) && !s.external?.entities.includes(t)) issues.push({ path: `rules[${i}].types[${k}]`, message: `no enabled detector reports ${t}` });
      });
    }
  });
  if (issues.length > 0 || !scanner) throw new ContentSectionError(issues);
  const compiled = rules.map((r) => ({ rule: r, style: maskStyle(r, opts), matches: typeMatcher(r.types) }));
  const covers = (d: Direction) => compiled.some((c) => (c.rule.direction ?? 'both') === 'both' || c.rule.direction === d);
  // Rules are tried in order per finding; the candidate list per (type, direction) is computed once.
  const byKey = new Map<string, typeof compiled>();
  const candidates = (t: string, d: Direction) => {
    const key = `${d}|${t}`;
    let list = byKey.get(key);
    if (!list) {
      list = compiled.filter((c) => c.matches(t) && ((c.rule.direction ?? 'both') === 'both' || c.rule.direction === d));
      if (byKey.size < 4096) byKey.set(key, list);
    }
    return list;
  };
  return {
    scanner,
    scanners: { request: covers('request') ? scanner : undefined, response: covers('response') ? scanner : undefined },
    actionFor(f: Finding, d: Direction): ActionDecision | undefined {
      for (const c of candidates(f.type, d)) {
        if (c.rule.min_score !== undefined && f.score < c.rule.min_score) continue;
        return { action: c.rule.action, rule: c.rule.id, ...(c.style ? { maskStyle: c.style } : {}) };
      }
      return undefined;
    },
    ...(s.unterminated ? { unterminated: s.unterminated } : {}),
    ...(s.external ? { external: { entities: s.external.entities, minScore: s.external.min_score ?? 0.5 } } : {}),
    tokenizes: rules.some((r) => r.action === 'tokenize'),
  };
}

function scannerSpec(s: ContentSection): ScannerSpec {
  const d = s.detectors ?? {};
  const custom: CustomDetectorSpec[] = (s.custom ?? []).map((c) => {
    const common = {
      id: c.id, type: c.type,
      ...(c.score !== undefined ? { score: c.score } : {}),
      ...(c.context ? { context: [c.context] } : {}),
    };
    if (c.words) return { kind: 'dictionary', ...common, words: c.words, ...(c.case_sensitive !== undefined ? { caseSensitive: c.case_sensitive } : {}), ...(c.whole_words !== undefined ? { wholeWords: c.whole_words } : {}) };
    return {
      kind: 'regex', ...common, pattern: c.pattern ?? '',
      ...(c.case_insensitive !== undefined ? { caseInsensitive: c.case_insensitive } : {}),
      ...(c.group !== undefined ? { group: c.group } : {}),
      ...(c.validator !== undefined ? { validator: c.validator } : {}),
      ...(c.max_length !== undefined ? { maxLength: c.max_length } : {}),
    };
  });
  return {
    builtIns: d.builtins === undefined || d.builtins === 'all' ? '*' : d.builtins === 'none' ? [] : d.builtins,
    ...(d.disable ? { disable: d.disable } : {}),
    ...(d.min_score !== undefined ? { minScore: d.min_score } : {}),
    ...(d.phone_regions ? { phoneRegions: d.phone_regions } : {}),
    ...(d.decode_blobs !== undefined ? { decodeBlobs: d.decode_blobs } : {}),
    custom,
  };
}

function typeMatcher(types: string[] | '*'): (t: string) => boolean {
  if (types === '*' || types.includes('*')) return () => true;
  const exact = new Set(types.filter((t) => !t.endsWith('*')));
  const prefixes = types.filter((t) => t.endsWith('*')).map((t) => t.slice(0, -1));
  return (t) => exact.has(t) || prefixes.some((p) => t.startsWith(p));
}

function maskStyle(r: ContentRule, opts: CompileContentOptions): MaskStyle | undefined {
  if (r.action !== 'mask' || r.mask === undefined || r.mask === 'label') return undefined;
  if (r.mask === 'partial') return { kind: 'partial', ...(r.keep_last !== undefined ? { keepLast: r.keep_last } : {}), ...(r.mask_char ? { maskChar: r.mask_char } : {}) };
  return { kind: 'hash', key: opts.hashKey!, ...(r.hash_length !== undefined ? { length: r.hash_length } : {}) };
}

function pathOf(instancePath: string): string {
  const p = instancePath.replace(/^\//, '').split('/').filter(Boolean).map((x) => (/^\d+$/.test(x) ? `[${x}]` : `.${x}`)).join('');
  return p.startsWith('.') ? p.slice(1) : p || '(content)';
}

/** The section `portcullis scan` uses without --policy: every built-in, every type masked. */
export const DEFAULT_SCAN_SECTION: ContentSection = { rules: [{ id: 'default-mask', types: '*', action: 'mask' }] };
