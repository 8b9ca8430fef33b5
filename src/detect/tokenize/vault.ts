/**
 * Where a conversation's placeholder ↔ value mappings live between requests. The gateway's implementation is
 * encrypted, store-backed and expiring (the lead's); this module only defines the port and an in-memory one for
 * tests and single-process use. The mapping never leaves the gateway.
 */

/** One mapping. `placeholder` is unique within a conversation, and so is `value`. */
export interface TokenEntry {
  readonly placeholder: string;
  readonly value: string;
  readonly type: string;
  /**
   * Which direction minted it. Absent: `request` (a value hidden from the upstream, restored in its answer);
   * `response`: a value hidden from the caller in an answer, restored when the caller sends it back (MCP results).
   */
  readonly origin?: TokenOrigin;
}

export type TokenOrigin = 'request' | 'response';

export interface TokenVault {
  /** All mappings of a conversation (empty when unknown or expired). */
  get(conversationId: string): Promise<readonly TokenEntry[]>;
  /**
   * Add mappings. Insert-if-absent per (conversation, placeholder); an entry whose placeholder is already mapped
   * to a different value must be rejected (two concurrent requests minted the same placeholder): the caller
   * reloads and retries. Implementations refresh the conversation's expiry.
   */
  put(conversationId: string, entries: readonly TokenEntry[]): Promise<void>;
}

export class TokenConflictError extends Error {
  override readonly name = 'TokenConflictError';
}

/** In-memory vault: no expiry, no encryption. For tests and the embedded single-process mode only. */
export class MemoryTokenVault implements TokenVault {
  readonly #conversations = new Map<string, Map<string, TokenEntry>>();

  async get(conversationId: string): Promise<readonly TokenEntry[]> {
    return [...(this.#conversations.get(conversationId)?.values() ?? [])];
  }

  async put(conversationId: string, entries: readonly TokenEntry[]): Promise<void> {
    const map = this.#conversations.get(conversationId) ?? new Map<string, TokenEntry>();
    for (const e of entries) {
      const prior = map.get(e.placeholder);
      if (prior && prior.value !== e.value) throw new TokenConflictError(`placeholder ${e.placeholder} already mapped`);
    }
    for (const e of entries) map.set(e.placeholder, { ...e });
    this.#conversations.set(conversationId, map);
  }
}
