import type { Clock } from '../core/clock.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { IdentityRepo } from './repo.ts';

/**
 * Pending login state (PKCE verifier, nonce, device code, CLI hand-off) kept in the store, sealed with keyring
 * purpose `identity` — so any replica can finish a flow another replica started, and a database reader learns
 * nothing usable. The AAD binds a sealed blob to its kind and id (no swapping rows).
 */
export class FlowStore {
  readonly #repo: IdentityRepo;
  readonly #keyring: Keyring;
  readonly #clock: Clock;

  constructor(o: { repo: IdentityRepo; keyring: Keyring; clock: Clock }) {
    this.#repo = o.repo;
    this.#keyring = o.keyring;
    this.#clock = o.clock;
  }

  async put(kind: string, id: string, data: object, ttlMs: number): Promise<void> {
    const sealed = this.#keyring.seal('identity', Buffer.from(JSON.stringify(data)), `identity/flow/${kind}/${id}`);
    await this.#repo.putFlow(id, kind, sealed, this.#clock.now() + ttlMs);
  }

  async get<T>(kind: string, id: string): Promise<T | undefined> {
    return this.#open<T>(kind, id, await this.#repo.getFlow(id, kind, this.#clock.now()));
  }

  /** Single use: the state is deleted as it is read. */
  async take<T>(kind: string, id: string): Promise<T | undefined> {
    return this.#open<T>(kind, id, await this.#repo.takeFlow(id, kind, this.#clock.now()));
  }

  #open<T>(kind: string, id: string, sealed: Buffer | undefined): T | undefined {
    if (!sealed) return undefined;
    return JSON.parse(this.#keyring.open('identity', sealed, `identity/flow/${kind}/${id}`).toString('utf8')) as T;
  }
}
