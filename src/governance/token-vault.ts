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

  constructor(o: { repo: TokenVaultRepo; keyring: Keyring; clock: Clock; ttlMs: number }) {
    this.#o = o;
  }

  async get(conversationId: string): Promise<readonly TokenEntry[]> {
    const rows = await this.#o.repo.get(conversationId, this.#o.clock.now());
    return rows.map((r) => JSON.parse(this.#o.keyring.open('token-vault', r.sealed, `${conversationId}/${r.placeholder}`).toString('utf8')) as TokenEntry);
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
  }
}
