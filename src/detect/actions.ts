/**
 * Applying actioned findings to one text: mask, redact, tokenize, flag, block. Pure: returns a new string and a
 * record of what changed; never mutates its inputs (STYLE.md 6, "record what masking changed, copy before you
 * mask", like OPA's plugins/logs/mask.go). Values never appear in a record or an error.
 */
import { createHmac } from 'node:crypto';
import { GatewayError } from '../core/errors.ts';
import type { Direction, Finding } from '../core/findings.ts';
import type { Action, ActionedFinding } from './types.ts';

/** How `mask` renders a value. */
export type MaskStyle =
  /** `[EMAIL_ADDRESS]` (the default). */
  | { readonly kind: 'label' }
  /** `****4242`: a fixed run of `maskChar` plus the last `keepLast` characters (default 4); length is not revealed. */
  | { readonly kind: 'partial'; readonly keepLast?: number; readonly maskChar?: string }
  /** `[EMAIL_ADDRESS:3f2a9c1b]`: HMAC-SHA256(key, value), first `length` hex digits (default 8, 4..64). */
  | { readonly kind: 'hash'; readonly key: string | Uint8Array; readonly length?: number };

/** What the policy says to do with one finding. */
export interface ActionDecision {
  readonly action: Action;
  readonly rule: string;
  readonly maskStyle?: MaskStyle;
}

/** Policy hook: `undefined` means no rule covers this finding in this direction (it is dropped, not recorded). */
export type ActionResolver = (finding: Finding, direction: Direction) => ActionDecision | undefined;

/** A finding with its decision attached, ready to apply. */
export interface PlannedFinding extends ActionedFinding {
  readonly maskStyle?: MaskStyle;
}

/** What one applied finding did: original offsets (`start`/`end`) and where its replacement sits in the output. */
export interface AppliedFinding extends ActionedFinding {
  readonly outStart: number;
  readonly outEnd: number;
}

/** The reversible tokenizer as actions need it (implemented by tokenize/tokenizer.ts). */
export interface Tokenizing {
  tokenize(type: string, value: string, origin?: 'request' | 'response'): string;
}

export interface ApplyOptions {
  readonly direction: Direction;
  readonly tokenizer?: Tokenizing | undefined;
  /** The text is raw JSON (streamed tool-call arguments): replacements must not break string escapes. */
  readonly json?: boolean;
  /**
   * Response-side `tokenize` mints placeholders the caller keeps and sends back (MCP tool results, restored in
   * later tool-call arguments) instead of masking.
   */
  readonly tokenizeResponses?: boolean;
}

export interface ApplyResult {
  readonly text: string;
  readonly applied: AppliedFinding[];
  /** Findings whose action is `block`; their values are masked in `text` all the same. */
  readonly blocked: AppliedFinding[];
}

/** Attach decisions; findings without a decision are dropped. */
export function plan(findings: readonly Finding[], direction: Direction, resolve: ActionResolver): PlannedFinding[] {
  const out: PlannedFinding[] = [];
  for (const f of findings) {
    const d = resolve(f, direction);
    if (d === undefined) continue;
    out.push({ ...f, action: d.action, rule: d.rule, ...(d.maskStyle ? { maskStyle: d.maskStyle } : {}) });
  }
  return out;
}

/**
 * Replace each finding in `text`. Findings are taken in start order; one overlapping an earlier one is skipped
 * (the scanner resolves overlaps; this is a guard, not a policy).
 */
export function applyActions(text: string, findings: readonly PlannedFinding[], opts: ApplyOptions): ApplyResult {
  const sorted = [...findings].sort((a, b) => a.start - b.start || b.end - a.end);
  const applied: AppliedFinding[] = [];
  const blocked: AppliedFinding[] = [];
  let out = '';
  let pos = 0;
  for (const f of sorted) {
    if (f.start < pos || f.end > text.length || f.start >= f.end) continue;
    out += text.slice(pos, f.start);
    const replacement = replacementFor(f, text.slice(f.start, f.end), opts);
    const a: AppliedFinding = { ...stripStyle(f), outStart: out.length, outEnd: out.length + replacement.length };
    out += replacement;
    pos = f.end;
    applied.push(a);
    if (f.action === 'block') blocked.push(a);
  }
  if (applied.length === 0) return { text, applied, blocked };
  return { text: out + text.slice(pos), applied, blocked };
}

/** The text that replaces one value. */
export function replacementFor(f: PlannedFinding, value: string, opts: ApplyOptions): string {
  switch (f.action) {
    case 'flag':
      return value;
    case 'redact':
      return '';
    case 'tokenize':
      // Placeholders protect values from the provider. On the response side a model answer is detokenized after
      // this step, so a placeholder minted there would be restored at once: mask instead (documented). MCP results
      // mint `response` placeholders, which that step leaves alone and a later tool call gets restored.
      if (opts.direction === 'request' && opts.tokenizer) return opts.tokenizer.tokenize(f.type, value);
      if (opts.tokenizeResponses && opts.tokenizer) return opts.tokenizer.tokenize(f.type, value, 'response');
      return label(f.type);
    case 'block':
      return label(f.type);
    case 'mask':
      return mask(f.type, value, f.maskStyle ?? { kind: 'label' }, opts.json === true);
  }
}

function mask(type: string, value: string, style: MaskStyle, json: boolean): string {
  if (style.kind === 'label') return label(type);
  if (style.kind === 'hash') {
    const n = Math.min(64, Math.max(4, style.length ?? 8));
    const digest = createHmac('sha256', style.key).update(value).digest('hex');
    return `[${type}:${digest.slice(0, n)}]`;
  }
  const keep = Math.max(0, style.keepLast ?? 4);
  const tail = value.slice(value.length - keep);
  // A value not much longer than what would be kept is hidden entirely; in raw JSON a kept tail must not
  // start inside an escape sequence or carry a quote.
  if (keep === 0 || value.length <= keep * 2 || (json && /[\\"]/.test(tail))) return label(type);
  const c = style.maskChar && style.maskChar.length > 0 ? style.maskChar : '*';
  return c.repeat(4) + tail;
}

export function label(type: string): string {
  return `[${type}]`;
}

function stripStyle(f: PlannedFinding): ActionedFinding {
  const { maskStyle: _style, ...rest } = f;
  return rest;
}

/**
 * The refusal for `block` findings: names finding types and rules, never a value (PRODUCT.md: no secret ever
 * leaves the gateway). The proxy serializes it in the caller's protocol.
 */
export function contentBlockedError(
  blocked: readonly Pick<ActionedFinding, 'type' | 'rule'>[],
  direction: Direction,
  path?: string,
): GatewayError {
  const types = [...new Set(blocked.map((b) => b.type))].sort();
  const rules = [...new Set(blocked.map((b) => b.rule))].sort();
  const where = direction === 'request' ? 'request' : 'response';
  return new GatewayError(
    'content_blocked',
    `The ${where} was blocked by rule ${rules.join(', ')}: it contains ${types.join(', ')}.`,
    { details: { direction, types, rules, ...(path === undefined ? {} : { path }) } },
  );
}

/** A scanner or masker that throws must not let text through (fail closed). */
export function evaluationError(cause: unknown): GatewayError {
  return new GatewayError('evaluation_error', 'Content inspection failed; the content was not released.', { cause });
}

export type { Action };
