/**
 * The text channels of one streamed answer, keyed by the rewriter (`choice 0 content`, `output 1 arguments`,
 * ...). Each channel is the streaming transformer (scan + actions, response direction) followed by the streaming
 * detokenizer (placeholders split across deltas). Channels remember the original and the released text so the
 * events that repeat a whole text (Responses `*.done`, `response.completed`) can carry the rewritten one.
 */
import { StreamTransformer } from '../stream/transformer.ts';
import { StreamingDetokenizer } from '../tokenize/stream-detokenizer.ts';
import { TextProcessor } from './text-processor.ts';
import type { ContentFinding, ContentOptions, TextKind } from './types.ts';

interface Channel<M> {
  readonly meta: M;
  readonly path: string;
  readonly transformer: StreamTransformer | undefined;
  readonly detokenizer: StreamingDetokenizer | undefined;
  reported: number;
}

/** How to open a channel; only evaluated the first time a key is seen. */
export interface ChannelSpec<M> {
  readonly meta: M;
  readonly path: string;
  readonly kind: TextKind;
}

interface Totals {
  original: string;
  released: string;
}

export class Channels<M> {
  readonly findings: ContentFinding[] = [];
  /** Whole texts that did not stream through a channel (fallback), response direction. */
  readonly whole: TextProcessor;
  readonly #o: ContentOptions;
  readonly #open = new Map<string, Channel<M>>();
  readonly #totals = new Map<string, Totals>();
  #maxHeld = 0;

  constructor(opts: ContentOptions) {
    this.#o = opts;
    this.whole = new TextProcessor(opts, 'response');
  }

  /** Feed text to a channel (opened on first use); returns what may be released now. */
  push(key: string, text: string, open: () => ChannelSpec<M>): string {
    let ch = this.#open.get(key);
    if (!ch) {
      ch = this.#create(open());
      this.#open.set(key, ch);
    }
    let totals = this.#totals.get(key);
    if (!totals) {
      totals = { original: '', released: '' };
      this.#totals.set(key, totals);
    }
    totals.original += text;
    let out: string;
    try {
      out = ch.transformer ? ch.transformer.push(text) : text;
      if (ch.detokenizer) out = ch.detokenizer.push(out);
    } finally {
      this.#after(ch); // a block is recorded too
    }
    totals.released += out;
    return out;
  }

  /** Close a channel; returns its held text, acted on. '' for unknown or closed channels. */
  end(key: string): string {
    const ch = this.#open.get(key);
    if (!ch) return '';
    this.#open.delete(key);
    let out: string;
    try {
      out = ch.transformer ? ch.transformer.end() : '';
      if (ch.detokenizer) out = ch.detokenizer.push(out) + ch.detokenizer.end();
    } finally {
      this.#after(ch);
    }
    const totals = this.#totals.get(key);
    if (totals) totals.released += out;
    return out;
  }

  /** Open channels (insertion order) whose meta passes `filter`. */
  openKeys(filter: (meta: M) => boolean = () => true): { key: string; meta: M }[] {
    return [...this.#open].filter(([, ch]) => filter(ch.meta)).map(([key, ch]) => ({ key, meta: ch.meta }));
  }

  /**
   * The rewritten version of a whole text the upstream repeats at the end (`.done`, completed responses):
   * the released text when it streamed through this channel unchanged, otherwise a full scan of it.
   */
  finalText(key: string, upstream: string, path: string, kind: TextKind): string {
    const t = this.#totals.get(key);
    if (t && !this.#open.has(key) && t.original === upstream) return t.released;
    if (!t && upstream === '') return '';
    const out = this.whole.text(upstream, path, kind);
    this.#collectWhole();
    return out;
  }

  /** Throws the block error of whole-text findings, if any. */
  throwIfBlocked(): void {
    const b = this.whole.blocked;
    if (b) throw b;
  }

  get maxHeld(): number {
    return this.#maxHeld;
  }

  #create({ meta, path, kind }: ChannelSpec<M>): Channel<M> {
    const scanner = this.#o.scanners.response;
    const json = kind === 'json';
    return {
      meta,
      path,
      reported: 0,
      transformer: scanner
        ? new StreamTransformer({
            scanner,
            direction: 'response',
            resolve: this.#o.actionFor,
            json,
            contextChars: this.#o.contextChars,
            unterminated: this.#o.unterminated,
          })
        : undefined,
      detokenizer: this.#o.tokenizer && this.#o.tokenizer.size > 0 ? new StreamingDetokenizer(this.#o.tokenizer, { json }) : undefined,
    };
  }

  #after(ch: Channel<M>): void {
    const t = ch.transformer;
    if (!t) return;
    this.#maxHeld = Math.max(this.#maxHeld, t.maxHeld + (ch.detokenizer?.held ?? 0));
    for (; ch.reported < t.findings.length; ch.reported++) {
      this.findings.push({ ...t.findings[ch.reported]!, path: ch.path, direction: 'response' });
    }
  }

  #collectWhole(): void {
    const w = this.whole.findings;
    for (const f of w.splice(0, w.length)) this.findings.push(f);
  }
}
