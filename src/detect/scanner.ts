/**
 * The Scanner: built-in and custom detectors compiled once per policy version, run per text. A scan
 * normalizes the text (normalize.ts), runs each detector (context-gated ones only when their words occur),
 * adjusts scores with context words, drops what is below the minimum score, resolves overlaps (higher score,
 * then the more specific detector, then the longer match wins: a Luhn-valid card beats a phone-shaped reading
 * of the same digits) and maps offsets back to the original text.
 */
import type { Finding } from '../core/findings.ts';
import { customDetector, asciiLower, type CustomDetectorSpec } from './detectors/custom.ts';
import { builtInDetectors } from './detectors/index.ts';
import { LiteralScanner, type Literal, type LiteralFacts } from './detectors/literals.ts';
import { normalize, toOriginal, type NormalizedText } from './detectors/normalize.ts';
import { leadsKey, primeLeads, primeRunIndex } from './detectors/starts.ts';
import type { Candidate, ContextRule, Detector } from './detectors/types.ts';
import type { Scanner } from './types.ts';

export interface ScannerSpec {
  /** Built-in detectors or finding types to run: '*' (default) or a list of detector ids / types. */
  readonly builtIns?: '*' | readonly string[];
  /** Built-in detector ids or finding types to leave out. */
  readonly disable?: readonly string[];
  readonly custom?: readonly CustomDetectorSpec[];
  /**
   * Detectors the gateway adds (the optional names recognizer, src/detect/ner/), selected like built-ins:
   * `builtIns` and `disable` name them by id or type.
   */
  readonly extra?: readonly Detector[];
  /** Findings below this score are dropped (default 0.5). */
  readonly minScore?: number;
  readonly phoneRegions?: readonly string[];
  readonly decodeBlobs?: boolean;
  /** Extra context words per finding type, added to the built-in ones. */
  readonly context?: Readonly<Record<string, ContextRule>>;
}

export interface CompiledScanner extends Scanner {
  /** Finding types this scanner can report. */
  readonly types: readonly string[];
  readonly detectors: readonly string[];
}

const DEFAULT_MIN_SCORE = 0.5;
const AFTER_WINDOW = 16;

interface Compiled {
  readonly d: Detector;
  readonly context: readonly ContextRule[];
  /** Ids of d.anchors / d.requires in the scanner's LiteralScanner. */
  readonly anchorIds?: readonly number[];
  readonly requireIds?: readonly number[];
  readonly nonAsciiRequires: readonly string[];
}

export function compileScanner(spec: ScannerSpec = {}): CompiledScanner {
  const selected = selectBuiltIns(spec);
  const all = [...selected, ...(spec.custom ?? []).map(customDetector)];
  const seen = new Set<string>();
  for (const d of all) {
    if (seen.has(d.id)) throw new TypeError(`duplicate detector id ${d.id}`);
    seen.add(d.id);
  }
  const minScore = spec.minScore ?? DEFAULT_MIN_SCORE;
  const literals: Literal[] = [];
  const ids = (words: readonly string[] | undefined, caseSensitive: boolean) =>
    words?.map((text) => literals.push({ text, caseSensitive }) - 1);
  // Each distinct set of leads is one record group: the prefilter records where its words occur (primeLeads).
  const leadGroups = new Map<string, number>();
  for (const d of all) {
    if (!d.leads) continue;
    const key = leadsKey(d.leads);
    if (leadGroups.has(key)) continue;
    leadGroups.set(key, leadGroups.size);
    for (const text of d.leads.words) literals.push({ text, caseSensitive: d.leads.caseSensitive, record: leadGroups.get(key)! });
  }
  const compiled: Compiled[] = all.map((d) => ({
    d,
    context: [...(d.context ?? []), ...d.types.flatMap((t) => (spec.context?.[t] ? [spec.context[t]] : []))],
    anchorIds: ids(d.anchors, true),
    requireIds: ids(d.requires, false),
    nonAsciiRequires: (d.requires ?? []).filter((w) => /[^\x00-\x7f]/.test(w)),
  }));
  const prefilter = new LiteralScanner(literals);
  const bounded = all.filter((d) => Number.isFinite(d.maxLength));
  // Context words must be seen by a stream scan too: the hold-back covers the longest match, and the
  // transformer passes released left context along.
  const maxBoundedMatchLength = Math.max(1, ...bounded.map((d) => d.maxLength));
  const unbounded = all.flatMap((d) => (d.unbounded ? [{ detector: d.types[0]!, startMarker: d.unbounded.startMarker, cap: d.unbounded.cap }] : []));
  return {
    types: [...new Set(all.flatMap((d) => d.types))].sort(),
    detectors: all.map((d) => d.id),
    maxBoundedMatchLength,
    unbounded,
    scan(text: string): Finding[] {
      if (text.length === 0) return [];
      // Pure ASCII (the common case) is its own normalized form: one pass over it answers the prefilter; a text
      // with other characters is normalized, then scanned.
      let facts = prefilter.scan(text, true);
      const n: NormalizedText = facts ? { text } : normalize(text);
      facts ??= prefilter.scan(n.text);
      primeRunIndex(n.text, facts.runs);
      primeLeads(n.text, leadGroups, facts.positions);
      let lower: string | undefined;
      const low = () => (lower ??= asciiLower(n.text));
      const candidates: Candidate[] = [];
      const ranked: Ranked[] = [];
      for (const entry of compiled) {
        const { d, context, anchorIds } = entry;
        if (d.minDigits !== undefined && facts.digits < d.minDigits) continue;
        if (anchorIds && !anchorIds.some((id) => facts.found[id] === 1)) continue;
        if (entry.requireIds && !requiresMet(entry, facts, low)) continue;
        candidates.length = 0;
        d.find(n.text, candidates);
        for (const c of candidates) {
          if (context.length > 0) c.score = Math.min(1, Math.max(0, c.score + contextBoost(n.text, c, context)));
          if (c.score >= minScore && c.end > c.start) ranked.push({ c, priority: d.priority ?? 0, secret: c.type.startsWith('SECRET_') ? 1 : 0 });
        }
      }
      const kept = resolveOverlaps(ranked);
      return kept.map((c) => {
        const [start, end] = toOriginal(n, c.start, c.end);
        return { type: c.type, start, end, score: Math.round(c.score * 100) / 100, detector: c.detector };
      });
    },
  };
}

function selectBuiltIns(spec: ScannerSpec): Detector[] {
  const all = [
    ...builtInDetectors({
      ...(spec.phoneRegions ? { phoneRegions: spec.phoneRegions } : {}),
      ...(spec.decodeBlobs !== undefined ? { decodeBlobs: spec.decodeBlobs } : {}),
    }),
    ...(spec.extra ?? []),
  ];
  const known = new Set(all.flatMap((d) => [d.id, ...d.types]));
  const want = spec.builtIns ?? '*';
  for (const name of [...(want === '*' ? [] : want), ...(spec.disable ?? [])]) {
    if (!known.has(name)) throw new TypeError(`unknown built-in detector or type ${name}`);
  }
  const off = new Set(spec.disable ?? []);
  const on = want === '*' ? undefined : new Set(want);
  return all.filter((d) => {
    const names = [d.id, ...d.types];
    if (names.some((x) => off.has(x))) return false;
    return !on || names.some((x) => on.has(x));
  });
}

/**
 * Sum of the boosts of the rules with a word within their window before, or shortly after, the match. Only the
 * windows are lower-cased: lower-casing the whole text for them was a 1 MB copy per scan of prose with a few
 * hundred candidates.
 */
function contextBoost(text: string, c: Candidate, rules: readonly ContextRule[]): number {
  let total = 0;
  for (const r of rules) {
    const from = Math.max(0, c.start - (r.window ?? 48));
    const to = Math.min(text.length, c.end + (r.windowAfter ?? AFTER_WINDOW));
    // One slice per window, not per word: a names-dense text has a candidate every few words.
    const before = asciiLower(text.slice(from, c.start));
    const after = to > c.end ? asciiLower(text.slice(c.end, to)) : '';
    if (r.words.some((w) => hasWord(text, before, from, w) || hasWord(text, after, c.end, w))) total += r.boost;
  }
  return total;
}

/**
 * `word` occurs in `window` (text[at, at + window.length), lower-cased) with no letter or digit glued to either
 * side. Searched in the window only: `indexOf` on the whole text would run to the next occurrence anywhere, making
 * a PII-dense text quadratic.
 */
function hasWord(text: string, window: string, at: number, word: string): boolean {
  if (window.length < word.length) return false;
  for (let i = window.indexOf(word); i >= 0; i = window.indexOf(word, i + 1)) {
    if (!isAlnum(text.charCodeAt(at + i - 1)) && !isAlnum(text.charCodeAt(at + i + word.length))) return true;
  }
  return false;
}

/**
 * One of d.requires occurs in the lower-cased text (asciiLower, which lower-cases by Unicode rules when that
 * keeps the length). The prefilter folds ASCII case only, which gives the same answer for ASCII words: in a
 * normalized (NFKC) text no non-ASCII character lower-cases to ASCII (the Kelvin sign became K). Words with other
 * characters (`né`) are looked up in the lower-cased text itself, and only when the text has such characters.
 */
function requiresMet(c: Compiled, facts: LiteralFacts, low: () => string): boolean {
  if (c.requireIds!.some((id) => facts.found[id] === 1)) return true;
  return !facts.ascii && c.nonAsciiRequires.some((w) => low().includes(w));
}

/** An ASCII letter (either case) or digit. */
function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

interface Ranked {
  readonly c: Candidate;
  readonly priority: number;
  /** 1 for a secret type: secrets win overlaps (resolveOverlaps). */
  readonly secret: number;
}

/**
 * Greedy by rank; an accepted span blocks every candidate overlapping it. Secrets rank first, then score, priority,
 * length: a random key can hold a Luhn-valid digit run or an SSN-shaped one by chance (1 in 2000 random 32-hex
 * keys holds a "card"), and masking only that run would leave the rest of the key in clear.
 */
function resolveOverlaps(cands: Ranked[]): Candidate[] {
  const len = (c: Candidate) => c.end - c.start;
  cands.sort((a, b) => b.secret - a.secret || b.c.score - a.c.score || b.priority - a.priority || len(b.c) - len(a.c) || a.c.start - b.c.start);
  const taken: Candidate[] = []; // sorted by start, non-overlapping
  for (const { c } of cands) {
    let lo = 0;
    let hi = taken.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (taken[mid]!.start < c.start) lo = mid + 1;
      else hi = mid;
    }
    const prev = taken[lo - 1];
    const next = taken[lo];
    if ((prev && prev.end > c.start) || (next && next.start < c.end)) continue;
    taken.splice(lo, 0, c);
  }
  return taken;
}
