/**
 * Aho–Corasick multi-pattern matching (Aho & Corasick, CACM 18(6), 1975): all dictionary words in one pass,
 * O(text + matches) whatever the number of words. Used by dictionary detectors.
 */

export interface AcMatch {
  /** Index of the word in the list given to the constructor. */
  readonly word: number;
  readonly start: number;
  readonly end: number;
}

export class AhoCorasick {
  readonly #next: Map<number, number>[] = [new Map<number, number>()];
  readonly #fail: number[] = [0];
  /** Words ending at each node (own + via dictionary suffix links, merged at build). */
  readonly #out: number[][] = [[]];
  readonly #lengths: number[];

  constructor(words: readonly string[]) {
    this.#lengths = words.map((w) => w.length);
    words.forEach((w, i) => {
      if (w.length === 0) throw new TypeError('dictionary words must not be empty');
      let node = 0;
      for (let k = 0; k < w.length; k++) {
        const c = w.charCodeAt(k);
        let nx = this.#next[node]!.get(c);
        if (nx === undefined) {
          nx = this.#next.length;
          this.#next.push(new Map<number, number>());
          this.#fail.push(0);
          this.#out.push([]);
          this.#next[node]!.set(c, nx);
        }
        node = nx;
      }
      this.#out[node]!.push(i);
    });
    this.#build();
  }

  #build(): void {
    const queue: number[] = [];
    for (const child of this.#next[0]!.values()) queue.push(child);
    for (let qi = 0; qi < queue.length; qi++) {
      const node = queue[qi]!;
      for (const [c, child] of this.#next[node]!) {
        let f = this.#fail[node]!;
        while (f !== 0 && !this.#next[f]!.has(c)) f = this.#fail[f]!;
        const target = this.#next[f]!.get(c);
        this.#fail[child] = target !== undefined && target !== child ? target : 0;
        this.#out[child]!.push(...this.#out[this.#fail[child]]!);
        queue.push(child);
      }
    }
  }

  /** Every occurrence of every word (overlapping ones included). */
  search(text: string, onMatch: (m: AcMatch) => void): void {
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      while (node !== 0 && !this.#next[node]!.has(c)) node = this.#fail[node]!;
      node = this.#next[node]!.get(c) ?? 0;
      for (const w of this.#out[node]!) onMatch({ word: w, start: i + 1 - this.#lengths[w]!, end: i + 1 });
    }
  }
}
