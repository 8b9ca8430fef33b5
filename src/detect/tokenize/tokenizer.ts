/**
 * Reversible tokenization scoped to one conversation: the same value always gets the same placeholder, and
 * `detokenize` restores exactly the values this conversation minted. Placeholders look like `⟦EMAIL_ADDRESS_1⟧`
 * (U+27E6/U+27E7 mathematical white square brackets): see docs/detection-actions.md for why.
 *
 * Synchronous by design: load a conversation's mappings once (`load`), tokenize/detokenize inline while the
 * request and the answer are transformed, then persist the new mappings (`save`).
 */
import type { Tokenizing } from '../actions.ts';
import type { TokenEntry, TokenOrigin, TokenVault } from './vault.ts';

export const PLACEHOLDER_OPEN = '\u27e6';
export const PLACEHOLDER_CLOSE = '\u27e7';
/** Type part: at most 48 chars of [A-Z0-9_]; index: up to 9 digits. Longest placeholder = 1 + 48 + 1 + 9 + 1. */
const MAX_TYPE = 48;
export const MAX_PLACEHOLDER_LENGTH = MAX_TYPE + 12;
const PLACEHOLDER_RE = /\u27e6([A-Z][A-Z0-9_]*)_([1-9][0-9]{0,8})\u27e7/g;

export interface TokenizerOptions {
  /**
   * Put before the type of placeholders minted in answers (`MCP_` → `⟦MCP_EMAIL_ADDRESS_1⟧`): they travel on to a
   * model conversation, whose own placeholders must never be mistaken for them.
   */
  readonly responsePrefix?: string;
}

export class ConversationTokenizer implements Tokenizing {
  readonly #byValue = new Map<string, string>();
  readonly #byPlaceholder = new Map<string, { value: string; type: string; origin: TokenOrigin }>();
  readonly #counters = new Map<string, number>();
  readonly #responsePrefix: string;
  #fresh: TokenEntry[] = [];

  constructor(entries: readonly TokenEntry[] = [], o: TokenizerOptions = {}) {
    this.#responsePrefix = o.responsePrefix ?? '';
    for (const e of entries) this.#remember(e);
  }

  /** The conversation's tokenizer with every mapping already stored for it. */
  static async load(vault: TokenVault, conversationId: string, o?: TokenizerOptions): Promise<ConversationTokenizer> {
    return new ConversationTokenizer(await vault.get(conversationId), o);
  }

  /**
   * Stable placeholder for `value` (the first type and direction seen for a value win). `origin` says which side
   * the value is hidden from: `request` (default) the upstream, `response` the caller.
   */
  tokenize(type: string, value: string, origin: TokenOrigin = 'request'): string {
    const known = this.#byValue.get(value);
    if (known !== undefined) return known;
    const t = placeholderType(origin === 'response' ? `${this.#responsePrefix}${type}` : type);
    const n = (this.#counters.get(t) ?? 0) + 1;
    const entry: TokenEntry = { placeholder: `${PLACEHOLDER_OPEN}${t}_${n}${PLACEHOLDER_CLOSE}`, value, type, ...(origin === 'response' ? { origin } : {}) };
    this.#remember(entry);
    this.#fresh.push(entry);
    return entry.placeholder;
  }

  /** The value behind a placeholder of this conversation. */
  restore(placeholder: string): string | undefined {
    return this.#byPlaceholder.get(placeholder)?.value;
  }

  /** The detector type behind a placeholder this conversation minted in the `origin` direction (never the value). */
  typeOf(placeholder: string, origin: TokenOrigin): string | undefined {
    const e = this.#byPlaceholder.get(placeholder);
    return e?.origin === origin ? e.type : undefined;
  }

  /**
   * Replace every placeholder this conversation minted in the `origin` direction by its value; others stay as
   * they are (an answer restores what its request hid from the upstream, never what an earlier answer hid from
   * the caller). With `json`, the text is raw JSON (tool-call arguments) and values are inserted JSON-string-escaped.
   */
  detokenize(text: string, json = false, origin: TokenOrigin = 'request'): string {
    if (!text.includes(PLACEHOLDER_OPEN) || this.#byPlaceholder.size === 0) return text;
    return text.replace(PLACEHOLDER_RE, (m) => {
      const e = this.#byPlaceholder.get(m);
      if (e === undefined || e.origin !== origin) return m;
      return json ? JSON.stringify(e.value).slice(1, -1) : e.value;
    });
  }

  get size(): number {
    return this.#byPlaceholder.size;
  }

  /** Mappings minted since load/construction (what `save` will persist). */
  get newEntries(): readonly TokenEntry[] {
    return this.#fresh;
  }

  /** Persist new mappings; on success they are no longer new. */
  async save(vault: TokenVault, conversationId: string): Promise<void> {
    if (this.#fresh.length === 0) return;
    const fresh = this.#fresh;
    this.#fresh = [];
    try {
      await vault.put(conversationId, fresh);
    } catch (err) {
      this.#fresh = [...fresh, ...this.#fresh];
      throw err;
    }
  }

  #remember(e: TokenEntry): void {
    if (!this.#byValue.has(e.value)) this.#byValue.set(e.value, e.placeholder);
    this.#byPlaceholder.set(e.placeholder, { value: e.value, type: e.type, origin: e.origin ?? 'request' });
    const m = /^\u27e6([A-Z][A-Z0-9_]*)_([0-9]+)\u27e7$/.exec(e.placeholder);
    if (m) {
      const t = m[1]!;
      this.#counters.set(t, Math.max(this.#counters.get(t) ?? 0, Number(m[2])));
    }
  }
}

/** `email-address` → `EMAIL_ADDRESS`: placeholders keep to [A-Z0-9_] so models copy them verbatim. */
export function placeholderType(type: string): string {
  let t = type.toUpperCase().replace(/[^A-Z0-9_]+/g, '_').slice(0, MAX_TYPE);
  if (!/^[A-Z]/.test(t)) t = `X${t}`.slice(0, MAX_TYPE);
  return t;
}
