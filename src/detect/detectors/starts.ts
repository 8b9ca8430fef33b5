/**
 * Candidate starts: a cheap scan that says where a pattern's match may begin, so the regex is tried only there
 * (as a sticky regex) instead of at every position. Patterns that can begin at almost any letter or digit (hex,
 * base64, MAC addresses, codice fiscale) otherwise cost a lookbehind test and a short run at each position.
 *
 * Contract of a Starts function: it returns the smallest index ≥ `from` where a match MAY start (or -1 for
 * none), and never skips an index where one does start. Trying the sticky regex at each candidate in order then
 * finds exactly the matches the global regex finds (its leftmost match from `from` starts at a candidate).
 */
import { Buffer } from 'node:buffer';
import { endianness } from 'node:os';

export type Starts = (text: string, from: number) => number;

const ASCII = 128;

/**
 * Texts up to this many characters have their code units copied into one reused array (codeUnits); a longer one
 * gets its own array, so one huge text does not keep its size allocated.
 */
const RETAINED_CODE_UNITS = 1 << 20;
let codeBuffer = new Uint16Array(4096);
let codeBytes = Buffer.from(codeBuffer.buffer);
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * The text's UTF-16 code units (the first text.length entries of the array; valid until the next call). A native
 * copy, then typed-array loads: a JS loop over `charCodeAt` cost ~2 ns a character on the shared machine (the
 * string's representation is tested on every call), the copy and the loads ~0.5.
 */
export function codeUnits(text: string): Uint16Array {
  const n = text.length;
  let codes = codeBuffer;
  let bytes = codeBytes;
  if (n > codes.length) {
    codes = new Uint16Array(Math.max(n, Math.min(RETAINED_CODE_UNITS, codes.length * 2)));
    bytes = Buffer.from(codes.buffer);
    if (codes.length <= RETAINED_CODE_UNITS) {
      codeBuffer = codes;
      codeBytes = bytes;
    }
  }
  if (LITTLE_ENDIAN) bytes.write(text, 0, 'utf16le');
  else for (let i = 0; i < n; i++) codes[i] = text.charCodeAt(i);
  return codes;
}

/** Membership table for an ASCII regex character class body, e.g. `A-Za-z0-9+/_-`. */
export function charClass(body: string): Uint8Array {
  const re = new RegExp(`[${body}]`);
  const t = new Uint8Array(ASCII);
  for (let c = 0; c < ASCII; c++) t[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
  return t;
}

function inClass(cls: Uint8Array, text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c < ASCII && cls[c] === 1;
}

/** Character classes whose long runs are indexed once per text (runIndex), shared by the detectors using them. */
export const ALNUM = charClass('A-Za-z0-9');
export const HEX = charClass('0-9A-Fa-f');
const DIGIT = charClass('0-9');
const B64 = charClass('A-Za-z0-9+/_-');
/** Narrowest indexed class per ASCII character: 4 digit, 3 other hex, 2 other alnum, 1 other b64, 0 none. */
export const LEVEL = Uint8Array.from({ length: ASCII }, (_, c) => (DIGIT[c] ? 4 : HEX[c] ? 3 : ALNUM[c] ? 2 : B64[c] ? 1 : 0));
export type RunKind = 'alnum' | 'b64' | 'hex' | 'digit';
/** Shortest run indexed per kind: below these, runs are too common in prose for the index to pay. */
// Alnum from 16: every English word of 9–15 letters was a run here, and each detector using alnum runs stepped over
// all of them (a tenth of a scan of prose). No detector needs a shorter one: bech32 addresses are found from the
// digit run their `1` separator begins (pii.ts).
const INDEXED_FROM: Readonly<Record<RunKind, number>> = { alnum: 16, b64: 24, hex: 32, digit: 1 };
/** The shortest indexed run of a class wider than digits: shorter b64 runs hold nothing else to index. */
export const MIN_LONG_RUN = Math.min(INDEXED_FROM.alnum, INDEXED_FROM.b64, INDEXED_FROM.hex);

/** Maximal runs as flat [start, end, start, end, …] lists, ordered by start. */
export type RunIndex = Record<RunKind, number[]>;

// The last text indexed: the scanner runs every detector on one text in turn, so one pass over it serves all
// of them (a JS loop costs ~3 ns per character: one per detector was most of a scan). Keyed by content (a
// memo: results never depend on it). The scanner's prefilter builds the index in its own pass over the text
// (literals.ts) and hands it over with primeRunIndex.
let indexedText: string | undefined;
let indexed: RunIndex = { alnum: [], b64: [], hex: [], digit: [] };

/** Use `index` (built by the caller's own pass, exactly as runIndex would) for `text`. */
export function primeRunIndex(text: string, index: RunIndex): void {
  indexedText = text;
  indexed = index;
}

function runIndex(text: string): RunIndex {
  if (text === indexedText) {
    // An equal text in another string object compares character by character: keep this object, so the next
    // lookups (one per candidate) compare by identity.
    indexedText = text;
    return indexed;
  }
  indexed = indexRuns(text);
  indexedText = text;
  return indexed;
}

/** The runs of `text` (no memo). */
export function indexRuns(text: string): RunIndex {
  return indexRunsOf(codeUnits(text), text.length);
}

/**
 * The runs of codes[0, length) (a text's codeUnits). Word by word: a separator (level 0, or any non-ASCII
 * character) ends a b64 run; inside one, a letter only continues it, so the common character costs one load and
 * one well-predicted branch. Reading every character through the run bookkeeping (the loop before this one) cost
 * 1.5 times as much on prose.
 */
export function indexRunsOf(codes: Uint16Array, length: number): RunIndex {
  const out: RunIndex = { alnum: [], b64: [], hex: [], digit: [] };
  const levels = LEVEL;
  let i = 0;
  while (i < length) {
    let c = codes[i]!;
    if (c >= ASCII || levels[c] === 0) {
      i++;
      continue;
    }
    const from = i; // a b64 run starts here and ends at the next separator
    for (;;) {
      if (levels[c] === 4) {
        const digitAt = i;
        do i++;
        while (i < length && (c = codes[i]!) < ASCII && levels[c] === 4);
        out.digit.push(digitAt, i);
      } else i++;
      if (i >= length) break;
      c = codes[i]!;
      if (c >= ASCII || levels[c] === 0) break;
    }
    if (i - from >= MIN_LONG_RUN) indexLongRun(codes, from, i, out);
    i++;
  }
  return out;
}

/**
 * Index the alnum, hex and b64 runs inside the maximal b64 run codes[from, to) (a text's codeUnits; runs nest:
 * digit ⊂ hex ⊂ alnum ⊂ b64, so a character ends the runs of the classes narrower than its own level and continues
 * the others). Called when that b64 run ends, so every list stays ordered by start. Digit runs are indexed by the
 * caller.
 */
export function indexLongRun(codes: Uint16Array, from: number, to: number, out: RunIndex): void {
  const minHex = INDEXED_FROM.hex;
  const minAlnum = INDEXED_FROM.alnum;
  const levels = LEVEL;
  if (to - from < minHex) {
    // Too short to hold a hex run (the common case: a long word of prose): only the alnum runs, split at the
    // b64-only characters (+ / _ -). Skipping the hex test saves a mispredicted branch at every a–f letter.
    let alnumAt = from;
    for (let i = from; i < to; i++) {
      if (levels[codes[i]!] !== 1) continue;
      if (i - alnumAt >= minAlnum) out.alnum.push(alnumAt, i);
      alnumAt = i + 1;
    }
    if (to - alnumAt >= minAlnum) out.alnum.push(alnumAt, to);
    if (to - from >= INDEXED_FROM.b64) out.b64.push(from, to);
    return;
  }
  let hexAt = from;
  let alnumAt = from;
  for (let i = from; i < to; i++) {
    const level = levels[codes[i]!]!;
    if (level >= 3) continue;
    if (i - hexAt >= minHex) out.hex.push(hexAt, i);
    hexAt = i + 1;
    if (level === 2) continue;
    if (i - alnumAt >= minAlnum) out.alnum.push(alnumAt, i);
    alnumAt = i + 1;
  }
  if (to - hexAt >= minHex) out.hex.push(hexAt, to);
  if (to - alnumAt >= minAlnum) out.alnum.push(alnumAt, to);
  if (to - from >= INDEXED_FROM.b64) out.b64.push(from, to);
}

/**
 * Starts of maximal runs of one class with a length in [min, max]: for a pattern whose match begins a run (its
 * lookbehind excludes the class) and spans at least `min` characters of it. `may`, when given, must hold at a
 * match's start (a cheap test of its first characters, e.g. a fixed prefix): other runs are skipped.
 */
export function runsOfLength(kind: RunKind, min: number, max = Infinity, may?: (text: string, at: number) => boolean): Starts {
  if (min < INDEXED_FROM[kind]) throw new RangeError(`${kind} runs are indexed from ${INDEXED_FROM[kind]} characters`);
  return (text, from) => {
    const runs = runIndex(text)[kind];
    for (let k = firstFrom(runs, from); k < runs.length; k += 2) {
      const length = runs[k + 1]! - runs[k]!;
      if (length >= min && length <= max && (!may || may(text, runs[k]!))) return runs[k]!;
    }
    return -1;
  };
}

/**
 * Candidates from digit runs of at least `min` digits, for a pattern whose digits begin a run after a fixed
 * non-digit prefix (an IBAN's country code, a bech32 address's human-readable part): `back(text, runStart)` says
 * where a match whose digits begin that run would start (≤ runStart, or -1 for none there).
 */
export function digitRunStarts(min: number, back: (text: string, at: number) => number): Starts {
  return (text, from) => {
    const runs = runIndex(text).digit;
    for (let k = firstFrom(runs, from); k < runs.length; k += 2) {
      if (runs[k + 1]! - runs[k]! < min) continue;
      const start = back(text, runs[k]!);
      if (start >= from) return start;
    }
    return -1;
  };
}

/** The literals a pattern's every match begins with (ASCII; lower-case unless case-sensitive). */
export interface Leads {
  readonly words: readonly string[];
  readonly caseSensitive: boolean;
}

export function leadsKey(l: Leads): string {
  return `${l.caseSensitive ? 's' : 'i'}\n${l.words.join('\n')}`;
}

// Where each detector's leads occur in the last text the scanner scanned: its prefilter automaton passes every
// occurrence anyway (literals.ts) and records them (primeLeads). A text it did not scan (a decoded blob, a unit
// test) gets its own one-text memo, found with indexOf, so it never evicts the scanner's.
let ledText: string | undefined;
let ledGroups: ReadonlyMap<string, number> = new Map();
let led: readonly (readonly number[] | undefined)[] = [];
const NONE: readonly number[] = [];
let ownText: string | undefined;
let own = new Map<string, readonly number[]>();

/**
 * Use `positions` for `text`: positions[groups.get(leadsKey)] holds the ascending occurrence starts of those leads,
 * exactly as leadStarts would find them (no entry: none). Leads not in `groups` are found here.
 */
export function primeLeads(text: string, groups: ReadonlyMap<string, number>, positions: readonly (readonly number[] | undefined)[]): void {
  ledText = text;
  ledGroups = groups;
  led = positions;
}

/**
 * Candidates for a pattern whose every match begins with one of `leads.words`: their occurrences. A pattern that
 * begins with a lookbehind and a rare literal (a provider key's prefix, a secret's key name) is otherwise tried by
 * the regex engine at every position of the text.
 */
export function leadStarts(leads: Leads): Starts {
  for (const w of leads.words) {
    if (w.length === 0 || /[^\x00-\x7f]/.test(w) || (!leads.caseSensitive && w !== w.toLowerCase())) {
      throw new TypeError(`lead ${JSON.stringify(w)} must be non-empty ASCII, lower-case when matched case-insensitively`);
    }
  }
  const key = leadsKey(leads);
  return (text, from) => {
    const g = text === ledText ? ledGroups.get(key) : undefined;
    let at = g === undefined ? undefined : (led[g] ?? NONE);
    if (!at) {
      if (text !== ownText) {
        ownText = text;
        own = new Map();
      }
      at = own.get(key);
      if (!at) own.set(key, (at = occurrences(text, leads)));
    }
    let lo = 0;
    let hi = at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (at[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    return lo < at.length ? at[lo]! : -1;
  };
}

/** Every start of every lead in `text`, ascending (overlapping ones included). */
export function occurrences(text: string, leads: Leads): number[] {
  const hay = leads.caseSensitive ? text : text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  const out: number[] = [];
  for (const w of leads.words) for (let i = hay.indexOf(w); i >= 0; i = hay.indexOf(w, i + 1)) out.push(i);
  return out.sort((a, b) => a - b);
}

/** Index (even) of the first run starting at or after `from`. */
function firstFrom(runs: readonly number[], from: number): number {
  let lo = 0;
  let hi = runs.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (runs[2 * mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return 2 * lo;
}

/**
 * Candidates around an anchor character that every match contains: for each occurrence at or after `from`
 * (found with indexOf), `back(text, at)` says where a match through that occurrence would start (or -1).
 * Valid when a match starting at p ≥ from has its first anchor after p and that start is what `back` returns.
 */
export function anchoredStarts(anchor: string, back: (text: string, at: number) => number): Starts {
  return (text, from) => {
    for (let at = text.indexOf(anchor, from); at >= 0; at = text.indexOf(anchor, at + 1)) {
      const start = back(text, at);
      if (start >= from) return start;
    }
    return -1;
  };
}

/** Start of the run of `cls` characters that ends right before `at` (`at` itself when there is none). */
export function runBefore(cls: Uint8Array, text: string, at: number): number {
  let i = at;
  while (i > 0 && inClass(cls, text, i - 1)) i--;
  return i;
}

/** A sticky copy of a global regex, to test at one index. */
export function sticky(re: RegExp): RegExp {
  return new RegExp(re.source, re.flags.includes('y') ? re.flags : `${re.flags}y`);
}

/**
 * Each match of `re` (sticky) at candidate starts, in order, like eachMatch with the global regex. `accept` may
 * move re.lastIndex (to rescan from inside a rejected match), as with eachMatch.
 */
export function eachMatchAt(re: RegExp, starts: Starts, text: string, accept: (m: RegExpExecArray) => void): void {
  let from = 0;
  while (from <= text.length) {
    const at = starts(text, from);
    if (at < 0) return;
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) {
      from = at + 1;
      continue;
    }
    if (m[0].length === 0) re.lastIndex++;
    accept(m);
    from = re.lastIndex;
  }
}
