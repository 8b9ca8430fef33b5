import { createHash } from 'node:crypto';
import type { Finding, Scanner } from './types.ts';

/**
 * Scan results per conversation, so an agent that resends its whole context each turn has only the new texts
 * scanned. Kept per policy version (one cache per compiled guard: a new version starts empty) and per conversation
 * (caller + the client's conversation id: a hit never tells one conversation what another sent). Keyed by the
 * SHA-256 of the text, so the texts themselves are not kept in memory. A scanner is a pure function of its text
 * (src/detect/types.ts), so a hit gives exactly the findings a scan would; the actions, and with them tokenization
 * through the conversation's vault, still run on every turn, so placeholders stay the same across turns.
 */
export class ScanCache {
  readonly #conversations = new Map<string, Map<string, readonly Finding[]>>();
  readonly #maxConversations: number;
  readonly #maxEntries: number;
  /** Texts shorter than this are scanned every time: hashing them costs about as much. */
  readonly #minChars: number;

  constructor(o: { maxConversations?: number; maxEntriesPerConversation?: number; minChars?: number } = {}) {
    this.#maxConversations = o.maxConversations ?? 1024;
    this.#maxEntries = o.maxEntriesPerConversation ?? 4096;
    this.#minChars = o.minChars ?? 256;
  }

  /** The base scanner seen through this conversation's cache. */
  scanner(conversation: string, base: Scanner): Scanner {
    let entries = this.#conversations.get(conversation);
    if (entries) this.#conversations.delete(conversation); // re-inserted below: least recently used first
    else entries = new Map();
    this.#conversations.set(conversation, entries);
    if (this.#conversations.size > this.#maxConversations) this.#conversations.delete(this.#conversations.keys().next().value!);
    const cache = entries;
    return {
      maxBoundedMatchLength: base.maxBoundedMatchLength,
      unbounded: base.unbounded,
      scan: (text) => {
        if (text.length < this.#minChars) return base.scan(text);
        const key = createHash('sha256').update(text).digest('base64');
        const hit = cache.get(key);
        // Copies: callers own the findings they get, as from a scan.
        if (hit) return hit.map((f) => ({ ...f }));
        const found = base.scan(text);
        if (cache.size >= this.#maxEntries) cache.clear();
        cache.set(key, found.map((f) => ({ ...f })));
        return found;
      },
    };
  }
}
