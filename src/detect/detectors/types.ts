/**
 * What one built-in or custom detector is, as the scanner needs it. A detector reports candidates on the
 * NORMALIZED text (see normalize.ts); the scanner maps offsets back, applies context words and resolves overlaps.
 * Pure and synchronous: no I/O, no state between calls.
 */
import { eachMatchAt, leadStarts, sticky, type Leads, type Starts } from './starts.ts';

/** One candidate match, offsets in the text the detector was given. */
export interface Candidate {
  type: string;
  start: number;
  end: number;
  score: number;
  detector: string;
}

/** Words near a match that raise (or, with a negative boost, lower) its score. Matched case-insensitively. */
export interface ContextRule {
  readonly words: readonly string[];
  /** Added to the score when a word occurs within `window` characters before (or 16 after) the match. */
  readonly boost: number;
  /** Characters before the match to look in; default 48. */
  readonly window?: number;
  /** Characters after the match to look in; default 16. Labels (`order #…`) only count before: 0. */
  readonly windowAfter?: number;
}

export interface Detector {
  /** Stable id, e.g. `email`, `card`, `secret.github` or `custom.<name>`. */
  readonly id: string;
  /** Finding types this detector can produce (for turning types on and off). */
  readonly types: readonly string[];
  /** Longest match in normalized characters, or Infinity for an unbounded pattern (then `unbounded` is set). */
  readonly maxLength: number;
  readonly unbounded?: { readonly startMarker: RegExp; readonly cap: number };
  readonly context?: readonly ContextRule[];
  /** Tie-break when two overlapping candidates have the same score: higher wins (specific beats generic). */
  readonly priority?: number;
  /** Run only when one of these (lower-case) words occurs in the text: context-gated detectors. */
  readonly requires?: readonly string[];
  /** Run only when one of these literals occurs (case-sensitive): a cheap prefilter for anchored patterns. */
  readonly anchors?: readonly string[];
  /**
   * Every match begins with one of these literals: the scanner's prefilter records where they occur (starts.ts
   * leadStarts), and `find` tries its pattern only there.
   */
  readonly leads?: Leads;
  /** Run only when the text has at least this many ASCII digits. */
  readonly minDigits?: number;
  find(text: string, out: Candidate[]): void;
}

/** Run a global regex over `text` and hand each match to `accept`, which may push candidates. */
export function eachMatch(re: RegExp, text: string, accept: (m: RegExpExecArray) => void): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].length === 0) re.lastIndex++;
    accept(m);
  }
}

/**
 * A detector from one linear-time pattern (no nested or overlapping quantifiers: every built-in pattern is a
 * sequence of bounded character-class runs, so matching is O(n · longest run)) and an optional validator.
 */
export interface PatternSpec {
  readonly id: string;
  readonly type: string;
  readonly re: RegExp;
  readonly score: number;
  readonly maxLength: number;
  /** Returns false to drop, a number to override the score. Gets the whole match. */
  readonly validate?: (value: string, m: RegExpExecArray) => boolean | number;
  /** Report only capture group `group` (e.g. the value after `password=`). */
  readonly group?: number;
  readonly context?: readonly ContextRule[];
  readonly priority?: number;
  readonly requires?: readonly string[];
  readonly anchors?: readonly string[];
  readonly minDigits?: number;
  readonly unbounded?: { readonly startMarker: RegExp; readonly cap: number };
  /** After a rejected match, look again from its second character (a later keyword inside it may match). */
  readonly rescanOnReject?: boolean;
  /** Where a match may start (see starts.ts): the pattern is then tried only there. */
  readonly starts?: Starts;
  /** Every match begins with one of these literals (Detector.leads): the starts are their occurrences. */
  readonly leads?: Leads;
}

export function patternDetector(p: PatternSpec): Detector {
  if (!p.re.global) throw new TypeError(`pattern ${p.id} must be global`);
  const starts = p.starts ?? (p.leads && leadStarts(p.leads));
  const re = starts ? sticky(p.re) : p.re;
  const each = starts ? eachMatchAt.bind(undefined, re, starts) : eachMatch.bind(undefined, re);
  return {
    id: p.id,
    types: [p.type],
    maxLength: p.maxLength,
    ...(p.unbounded ? { unbounded: p.unbounded } : {}),
    ...(p.context ? { context: p.context } : {}),
    ...(p.priority !== undefined ? { priority: p.priority } : {}),
    ...(p.requires ? { requires: p.requires } : {}),
    ...(p.anchors ? { anchors: p.anchors } : {}),
    ...(p.leads ? { leads: p.leads } : {}),
    ...(p.minDigits !== undefined ? { minDigits: p.minDigits } : {}),
    find(text, out) {
      each(text, (m) => {
        const v = p.validate ? p.validate(m[0], m) : true;
        if (v === false) {
          if (p.rescanOnReject) re.lastIndex = m.index + 1;
          return;
        }
        const score = typeof v === 'number' ? v : p.score;
        let start = m.index;
        let end = m.index + m[0].length;
        if (p.group !== undefined) {
          const g = m[p.group];
          if (g === undefined || g.length === 0) return;
          start = m.index + m[0].lastIndexOf(g);
          end = start + g.length;
        }
        out.push({ type: p.type, start, end, score, detector: p.id });
      });
    },
  };
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * Random-looking token: enough entropy, and no run of 8 of one character (a half-typed placeholder such as
 * `sk-abc00000000…`). A run of 6 also occurs by chance: in 1 of 40 000 random 32-hex-digit keys.
 */
export function looksRandom(s: string, minEntropy = 3): boolean {
  return s.length >= 8 && entropy(s) >= minEntropy && !/(.)\1{7}/.test(s);
}
