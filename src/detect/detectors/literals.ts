/**
 * The scanner's prefilter in one pass: which of all detectors' trigger literals (`anchors`, case-sensitive, and
 * `requires` words, ASCII case-insensitive) occur in a text, and how many ASCII digits it has. One Aho–Corasick
 * automaton (a dense DFA over the literals' alphabet) replaces one `includes` per literal per detector, which
 * read the whole text up to ~100 times when the literals are absent (the common case).
 *
 * The automaton folds ASCII case; case-sensitive literals are confirmed at the match position. Literals with
 * non-ASCII characters are left to the caller (`ascii` false on such a text: see LiteralFacts).
 *
 * The same pass records where the detectors' leads occur (Literal.record: the literals a pattern's every match
 * begins with, starts.ts leadStarts) and indexes the text's character-class runs for the detectors' candidate
 * starts (starts.ts): reading each character once for both was a third of a scan of short texts, and measured
 * 0.9 times a second, word-by-word pass for the runs (starts.ts indexRunsOf, which a text the scanner did not
 * scan gets).
 */
import { codeUnits, indexLongRun, LEVEL, MIN_LONG_RUN, type RunIndex } from './starts.ts';

export interface Literal {
  readonly text: string;
  readonly caseSensitive: boolean;
  /** Record where this literal occurs, in LiteralFacts.positions[record] (a detector's leads, starts.ts). */
  readonly record?: number;
}

export interface LiteralFacts {
  /** found[i] = 1 when literal i occurs (ASCII literals only; non-ASCII ones are never marked). */
  readonly found: Uint8Array;
  readonly digits: number;
  /** The text is pure ASCII: then ASCII case folding is the text's whole lower-casing (see asciiLower). */
  readonly ascii: boolean;
  /** The text's character-class runs, as starts.ts's runIndex builds them (for primeRunIndex). */
  readonly runs: RunIndex;
  /**
   * Per record group: every start of its literals, ascending (starts.ts occurrences, for primeLeads); a group
   * with none has no entry.
   */
  readonly positions: readonly (number[] | undefined)[];
}

const ASCII = 128;

export class LiteralScanner {
  readonly #literals: readonly Literal[];
  /** Alphabet class per ASCII code (0: a character no literal contains); A-Z share the class of a-z. */
  readonly #cls = new Uint8Array(ASCII);
  readonly #width: number;
  /**
   * Per ASCII code, its alphabet class and its run level in one entry (`class << 3 | LEVEL`): one table load per
   * character instead of two.
   */
  #step = new Uint16Array(ASCII);
  /** delta[state * width + class] = next state's row offset: failure links folded in at build time. */
  #delta = new Int32Array(0);
  /** Literal ids ending at each state (own + via suffix links): outIds[outAt[s] .. outAt[s + 1]). */
  #outAt = new Int32Array(0);
  #outIds = new Int32Array(0);
  /**
   * States where a literal ends are numbered last: a row offset ≥ terminalFrom is such a state (a compare per
   * character, not a third table load).
   */
  #terminalFrom = 0;

  constructor(literals: readonly Literal[]) {
    this.#literals = literals;
    // A case-insensitive literal is looked up in lower-cased text: one with an upper-case letter never occurs.
    const findable = (l: Literal) => l.text.length > 0 && isAscii(l.text) && (l.caseSensitive || l.text === foldAll(l.text));
    for (const l of literals) {
      if (l.record !== undefined && !findable(l)) throw new TypeError(`literal ${JSON.stringify(l.text)} cannot be recorded: ASCII, lower-case unless case-sensitive`);
    }
    const usable = literals.map((l, i) => ({ l, i })).filter(({ l }) => findable(l));
    let classes = 1;
    for (const { l } of usable) {
      for (let k = 0; k < l.text.length; k++) {
        const c = fold(l.text.charCodeAt(k));
        if (this.#cls[c] === 0) {
          this.#cls[c] = classes++;
        }
      }
    }
    for (let c = 65; c <= 90; c++) this.#cls[c] = this.#cls[c + 32]!;
    this.#width = classes;
    this.#build(usable.map(({ l, i }) => ({ word: foldAll(l.text), id: i })));
  }

  #build(words: readonly { word: string; id: number }[]): void {
    const w = this.#width;
    const next: number[][] = [new Array<number>(w).fill(-1)];
    const out: number[][] = [[]];
    for (const { word, id } of words) {
      let s = 0;
      for (let k = 0; k < word.length; k++) {
        const c = this.#cls[word.charCodeAt(k)]!;
        if (next[s]![c] === -1) {
          next[s]![c] = next.length;
          next.push(new Array<number>(w).fill(-1));
          out.push([]);
        }
        s = next[s]![c]!;
      }
      out[s]!.push(id);
    }
    // Breadth-first: complete every state's row with its failure state's row (a DFA), merge outputs.
    const fail = new Array<number>(next.length).fill(0);
    const queue: number[] = [];
    for (let c = 0; c < w; c++) {
      const t = next[0]![c]!;
      if (t === -1) next[0]![c] = 0;
      else queue.push(t);
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi]!;
      out[s]!.push(...out[fail[s]!]!);
      for (let c = 0; c < w; c++) {
        const t = next[s]![c]!;
        if (t === -1) next[s]![c] = next[fail[s]!]![c]!;
        else {
          fail[t] = next[fail[s]!]![c]!;
          queue.push(t);
        }
      }
    }
    // Renumber: states without output first (the root, which has none, stays 0), then those with output.
    const order = [...next.keys()].sort((a, b) => Number(out[a]!.length > 0) - Number(out[b]!.length > 0) || a - b);
    const renamed = new Int32Array(next.length);
    order.forEach((old, at) => (renamed[old] = at));
    this.#terminalFrom = order.findIndex((old) => out[old]!.length > 0) * w;
    if (this.#terminalFrom < 0) this.#terminalFrom = next.length * w;
    // Rows hold the next state's row offset (state × width), so a step is one add and one load.
    this.#delta = Int32Array.from(order.flatMap((old) => next[old]!), (t) => renamed[t]! * w);
    this.#outAt = new Int32Array(next.length + 1);
    order.forEach((old, at) => (this.#outAt[at + 1] = this.#outAt[at]! + out[old]!.length));
    this.#outIds = Int32Array.from(order.flatMap((old) => out[old]!));
    this.#step = Uint16Array.from(this.#cls, (cls, c) => (cls << 3) | LEVEL[c]!);
  }

  /**
   * The literals in `text`, its digits and its runs. With `asciiOnly`, a non-ASCII character ends the scan at once
   * and the answer is `undefined`: the caller normalizes such a text first (normalize.ts) and scans the result.
   */
  scan(text: string, asciiOnly: true): LiteralFacts | undefined;
  scan(text: string, asciiOnly?: boolean): LiteralFacts;
  scan(text: string, asciiOnly = false): LiteralFacts | undefined {
    const found = new Uint8Array(this.#literals.length);
    const positions: number[][] = [];
    const runs: RunIndex = { alnum: [], b64: [], hex: [], digit: [] };
    const step = this.#step;
    const delta = this.#delta;
    const terminalFrom = this.#terminalFrom;
    const width = this.#width;
    const codes = codeUnits(text);
    const length = text.length;
    let settled: Uint8Array | undefined;
    let digits = 0;
    let ascii = true;
    let s = 0;
    let digitAt = -1;
    let b64At = 0;
    for (let i = 0; i < length; i++) {
      const c = codes[i]!;
      let level = 0;
      if (c >= ASCII) {
        if (asciiOnly) return undefined;
        ascii = false;
        s = 0;
      } else {
        const x = step[c]!;
        level = x & 7;
        s = delta[s + (x >> 3)]!;
        if (s >= terminalFrom) {
          const state = (s / width) | 0;
          settled ??= new Uint8Array(this.#outAt.length - 1);
          if (settled[state] === 0 && this.#mark(text, i + 1, state, found, positions)) settled[state] = 1;
        }
      }
      if (level === 4) {
        digits++;
        if (digitAt < 0) digitAt = i;
        continue;
      }
      if (digitAt >= 0) {
        runs.digit.push(digitAt, i);
        digitAt = -1;
      }
      if (level === 0) {
        if (i - b64At >= MIN_LONG_RUN) indexLongRun(codes, b64At, i, runs);
        b64At = i + 1;
      }
    }
    if (digitAt >= 0) runs.digit.push(digitAt, text.length);
    if (length - b64At >= MIN_LONG_RUN) indexLongRun(codes, b64At, length, runs);
    for (const p of positions) if (p && !isAscending(p)) p.sort((x, y) => x - y);
    return { found, digits, ascii, runs, positions };
  }

  /**
   * Record the literals ending at `end` in state `s` (case-sensitive ones only when the text has that case). True
   * when the state has nothing left to record in this text.
   */
  #mark(text: string, end: number, s: number, found: Uint8Array, positions: number[][]): boolean {
    let settled = true;
    for (let k = this.#outAt[s]!; k < this.#outAt[s + 1]!; k++) {
      const id = this.#outIds[k]!;
      const l = this.#literals[id]!;
      if (l.record === undefined && found[id] === 1) continue;
      const start = end - l.text.length;
      if (l.caseSensitive && !text.startsWith(l.text, start)) {
        settled = false;
        continue;
      }
      found[id] = 1;
      if (l.record !== undefined) {
        (positions[l.record] ??= []).push(start);
        settled = false;
      }
    }
    return settled;
  }
}

function isAscending(p: readonly number[]): boolean {
  for (let i = 1; i < p.length; i++) if (p[i]! < p[i - 1]!) return false;
  return true;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= ASCII) return false;
  return true;
}

function fold(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

function foldAll(s: string): string {
  return s.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
}
