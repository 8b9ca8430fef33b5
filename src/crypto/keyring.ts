import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomFillSync, type KeyObject } from 'node:crypto';

/**
 * Authenticated encryption at rest (AES-256-GCM, NIST SP 800-38D) with keys derived per purpose from the master
 * key by HKDF-SHA256 (RFC 5869), so a key for recorded bodies can never decrypt a provider credential.
 * Sealed format: version byte (1) | 12-byte IV | ciphertext | 16-byte tag. The AAD binds a ciphertext to its
 * owner (e.g. exchange id + part) so ciphertexts cannot be swapped between rows.
 */
/**
 * `mcp` keys HMACs (session ids, correlation); `mcp-round-trip` encrypts the sessionless round-trip envelopes
 * (src/mcp/round-trip-envelope.ts): one key is never used by two algorithms.
 */
export type KeyPurpose = 'provider-credentials' | 'exchange-bodies' | 'token-vault' | 'identity' | 'approvals' | 'audit' | 'events' | 'mcp' | 'mcp-round-trip';

const VERSION = 1;
const IV_POOL_SIZE = 12 * 512;

export class Keyring {
  readonly #keys = new Map<KeyPurpose, KeyObject>();
  readonly #master: Buffer;
  // Random IVs are drawn from a pool refilled in bulk: one CSPRNG call per 512 seals instead of one per seal.
  #ivPool = Buffer.alloc(IV_POOL_SIZE);
  #ivOffset = IV_POOL_SIZE;

  constructor(master: Buffer) {
    if (master.length !== 32) throw new TypeError('master key must be 32 bytes');
    this.#master = master;
  }

  /** The derived key as a KeyObject, built once per purpose (building it per call costs more than the cipher). */
  key(purpose: KeyPurpose): KeyObject {
    let k = this.#keys.get(purpose);
    if (!k) {
      k = createSecretKey(Buffer.from(hkdfSync('sha256', this.#master, Buffer.alloc(0), `portcullis/${purpose}/v1`, 32)));
      this.#keys.set(purpose, k);
    }
    return k;
  }

  #nextIv(): Buffer {
    if (this.#ivOffset + 12 > IV_POOL_SIZE) {
      this.#ivPool = randomFillSync(Buffer.alloc(IV_POOL_SIZE));
      this.#ivOffset = 0;
    }
    const iv = this.#ivPool.subarray(this.#ivOffset, this.#ivOffset + 12);
    this.#ivOffset += 12;
    return iv;
  }

  seal(purpose: KeyPurpose, plaintext: Uint8Array, aad: string): Buffer {
    return this.sealWithIv(purpose, plaintext, aad, this.#nextIv());
  }

  /**
   * Sealing with a caller-chosen 12-byte IV, for deterministic sealing (src/audit/dedup.ts): the IV must be a PRF
   * of the plaintext under a secret key (a synthetic IV, as in RFC 5297 §2.6), so one IV never seals two different
   * plaintexts — the only way GCM fails — and equal plaintexts seal to equal bytes.
   */
  sealWithIv(purpose: KeyPurpose, plaintext: Uint8Array, aad: string, iv: Uint8Array): Buffer {
    if (iv.length !== 12) throw new TypeError('IV must be 12 bytes');
    const cipher = createCipheriv('aes-256-gcm', this.key(purpose), iv);
    cipher.setAAD(Buffer.from(aad));
    const body = cipher.update(plaintext);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    // An exact-size buffer of its own, not a slice of Node's shared allocation pool: sealed values are posted to
    // the store worker, and structured clone copies a view's whole backing ArrayBuffer (the pool), not the slice.
    const out = Buffer.allocUnsafeSlow(13 + body.length + tail.length + tag.length);
    out[0] = VERSION;
    out.set(iv, 1);
    body.copy(out, 13);
    tail.copy(out, 13 + body.length);
    tag.copy(out, 13 + body.length + tail.length);
    return out;
  }

  open(purpose: KeyPurpose, sealed: Uint8Array, aad: string): Buffer {
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (buf.length < 29 || buf[0] !== VERSION) throw new Error('sealed value has an unknown format');
    const iv = buf.subarray(1, 13);
    const tag = buf.subarray(buf.length - 16);
    const decipher = createDecipheriv('aes-256-gcm', this.key(purpose), iv);
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(buf.subarray(13, buf.length - 16)), decipher.final()]);
  }
}
