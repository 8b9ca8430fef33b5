/**
 * Restores placeholders in a streamed answer. A placeholder may arrive split across deltas (`⟦EMAIL_AD` +
 * `DRESS_1⟧`): only a possible placeholder prefix at the end of the text is held back (at most
 * MAX_PLACEHOLDER_LENGTH - 1 characters); everything before it is released at once.
 */
import { MAX_PLACEHOLDER_LENGTH, PLACEHOLDER_OPEN, type ConversationTokenizer } from './tokenizer.ts';

const PREFIX_RE = /^\u27e6[A-Z0-9_]*$/;

export class StreamingDetokenizer {
  readonly #tokenizer: ConversationTokenizer;
  readonly #json: boolean;
  #held = '';

  constructor(tokenizer: ConversationTokenizer, opts: { json?: boolean } = {}) {
    this.#tokenizer = tokenizer;
    this.#json = opts.json === true;
  }

  push(chunk: string): string {
    const text = this.#held + chunk;
    const cut = holdFrom(text);
    this.#held = text.slice(cut);
    return this.#tokenizer.detokenize(text.slice(0, cut), this.#json);
  }

  end(): string {
    const text = this.#held;
    this.#held = '';
    return this.#tokenizer.detokenize(text, this.#json);
  }

  get held(): number {
    return this.#held.length;
  }
}

/** Index from which `text` could still be the start of a placeholder; text.length when none. */
function holdFrom(text: string): number {
  const i = text.lastIndexOf(PLACEHOLDER_OPEN);
  if (i < 0 || text.length - i >= MAX_PLACEHOLDER_LENGTH) return text.length;
  return PREFIX_RE.test(text.slice(i)) ? i : text.length;
}
