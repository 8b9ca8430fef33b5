import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Keyring } from '../crypto/keyring.ts';
import type { TokenVaultRepo, VaultRow } from '../store/ports.ts';
import { SealedTokenVault } from './token-vault.ts';

/** A repo over a map, as the stores behave for one conversation (insert-if-absent, expiry ignored here). */
function memoryRepo() {
  const rows = new Map<string, VaultRow>();
  const repo: TokenVaultRepo = {
    get: async () => [...rows.values()],
    put: async (_c, add) => {
      for (const r of add) if (!rows.has(r.placeholder)) rows.set(r.placeholder, r);
      return [];
    },
    purgeExpired: async () => 0,
  };
  return { repo, rows };
}

function countingKeyring(): { keyring: Keyring; opens: () => number } {
  const keyring = new Keyring(randomBytes(32));
  let n = 0;
  const open = keyring.open.bind(keyring);
  keyring.open = (...args: Parameters<Keyring['open']>) => {
    n++;
    return open(...args);
  };
  return { keyring, opens: () => n };
}

const clock = { now: () => 1_000, mono: () => 0 };
const entry = (i: number, value = `user${i}@example.com`) => ({ placeholder: `\u27e6EMAIL_ADDRESS_${i}\u27e7`, value, type: 'EMAIL_ADDRESS' });

describe('SealedTokenVault: unsealed rows are remembered by their exact bytes', () => {
  it('a conversation loaded again is not unsealed again; what a put stored is not unsealed at all', async () => {
    const { repo } = memoryRepo();
    const { keyring, opens } = countingKeyring();
    const vault = new SealedTokenVault({ repo, keyring, clock, ttlMs: 60_000 });
    await vault.put('c', [entry(1), entry(2)]);
    assert.deepEqual((await vault.get('c')).map((e) => e.value), ['user1@example.com', 'user2@example.com']);
    assert.equal(opens(), 0, 'the rows this vault wrote are known');
    const other = new SealedTokenVault({ repo, keyring, clock, ttlMs: 60_000 }); // another replica
    await other.get('c');
    await other.get('c');
    assert.equal(opens(), 2, 'unsealed once per row, then remembered');
  });

  it('a row minted again with other bytes (expired, then the placeholder reused) is unsealed, never served stale', async () => {
    const { repo, rows } = memoryRepo();
    const { keyring } = countingKeyring();
    const vault = new SealedTokenVault({ repo, keyring, clock, ttlMs: 60_000 });
    await vault.put('c', [entry(1)]);
    assert.equal((await vault.get('c'))[0]!.value, 'user1@example.com');
    // Another replica's put after the old mapping expired and was purged: same conversation and placeholder, new value.
    rows.clear();
    const writer = new SealedTokenVault({ repo, keyring, clock, ttlMs: 60_000 });
    await writer.put('c', [entry(1, 'someone.else@example.com')]);
    assert.equal((await vault.get('c'))[0]!.value, 'someone.else@example.com');
    // A row whose bytes were altered in the store fails to open: the load fails (fail closed), no cached value.
    const r = rows.get(entry(1).placeholder)!;
    rows.set(r.placeholder, { ...r, sealed: Buffer.concat([r.sealed.subarray(0, -1), Buffer.from([r.sealed.at(-1)! ^ 1])]) });
    await assert.rejects(vault.get('c'));
  });

  it('keeps at most maxOpened rows, least recently used out first', async () => {
    const { repo } = memoryRepo();
    const { keyring, opens } = countingKeyring();
    const writer = new SealedTokenVault({ repo, keyring, clock, ttlMs: 60_000 });
    await writer.put('c', [entry(1), entry(2), entry(3)]);
    const vault = new SealedTokenVault({ repo, keyring, clock, ttlMs: 60_000, maxOpened: 2 });
    await vault.get('c');
    assert.equal(opens(), 3);
    await vault.get('c');
    assert.equal(opens(), 6, 'three rows through a cache of two, in order: each was evicted before it was read again');
  });
});
