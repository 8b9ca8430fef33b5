import { createHmac } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { TokenConflictError, type TokenEntry, type TokenVault } from '../detect/tokenize/vault.ts';
import type { TokenVaultRepo } from '../store/ports.ts';

/**
 * The gateway's token vault: each placeholder → value mapping is sealed (AES-256-GCM, `token-vault` key, AAD =
 * conversation + placeholder) and expires at least `ttlMs` (at most 1.1 × `ttlMs`) after the conversation was last
 * written. A keyed HMAC of the value lets the store refuse a conflicting mapping without ever holding the value in
 * clear.
 *
 * Pushing the expiry rewrites every row of the conversation, so a put extends it by a tenth more than the TTL and
 * only rows with less than the TTL left are rewritten: a long agent session's thousands of mappings are rewritten
 * at most once per tenth of the TTL, not on every request that mints a placeholder (which, on PostgreSQL, wrote a
 * new version of each row every time).
 */
export class SealedTokenVault implements TokenVault {
  readonly #o: { repo: TokenVaultRepo; keyring: Keyring; clock: Clock; ttlMs: number };
  /**
   * Rows unsealed before, by conversation and placeholder, with the exact sealed bytes they came from (a row that
   * expired and was minted again has other bytes: a fresh IV). Unsealing was two thirds of loading a conversation
   * (≈ 7 µs a row: 1,000 mappings ≈ 7 ms of 12), paid again on every call of a long agent session. Only rows the
   * store returns for a conversation are looked up here, so an expired mapping is never served from it; the bound
   * (least recently used first) limits how long values stay in memory.
   */
  readonly #opened = new Map<string, { sealed: Buffer; entry: TokenEntry }>();
  readonly #maxOpened: number;

  constructor(o: { repo: TokenVaultRepo; keyring: Keyring; clock: Clock; ttlMs: number; maxOpened?: number }) {
    this.#o = o;
    this.#maxOpened = o.maxOpened ?? 20_000;
  }

  async get(conversationId: string): Promise<readonly TokenEntry[]> {
    const rows = await this.#o.repo.get(conversationId, this.#o.clock.now());
    return rows.map((r) => {
      const key = `${conversationId}\0${r.placeholder}`;
      const known = this.#opened.get(key);
      if (known?.sealed.equals(r.sealed)) {
        this.#opened.delete(key); // most recently used last
        this.#opened.set(key, known);
        return known.entry;
      }
      const entry = JSON.parse(this.#o.keyring.open('token-vault', r.sealed, `${conversationId}/${r.placeholder}`).toString('utf8')) as TokenEntry;
      this.#remember(key, r.sealed, entry);
      return entry;
    });
  }

  #remember(key: string, sealed: Buffer, entry: TokenEntry): void {
    this.#opened.delete(key);
    this.#opened.set(key, { sealed: Buffer.from(sealed), entry });
    if (this.#opened.size > this.#maxOpened) this.#opened.delete(this.#opened.keys().next().value!);
  }

  async put(conversationId: string, entries: readonly TokenEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const rows = entries.map((e) => ({
      placeholder: e.placeholder,
      valueMac: createHmac('sha256', this.#o.keyring.key('token-vault')).update(e.value).digest('base64url'),
      sealed: this.#o.keyring.seal('token-vault', Buffer.from(JSON.stringify(e)), `${conversationId}/${e.placeholder}`),
    }));
    const now = this.#o.clock.now();
    const conflicts = await this.#o.repo.put(conversationId, rows, now + this.#o.ttlMs + Math.floor(this.#o.ttlMs / 10), now + this.#o.ttlMs);
    if (conflicts.length > 0) throw new TokenConflictError(`${conflicts.length} placeholder(s) already mapped in this conversation`);
    // What this put stored is what the next load reads back (a row already there with these placeholders holds other bytes).
    entries.forEach((e, i) => this.#remember(`${conversationId}\0${e.placeholder}`, rows[i]!.sealed, e));
  }
}
