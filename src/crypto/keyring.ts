import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption at rest (AES-256-GCM, NIST SP 800-38D) with keys derived per purpose from the master
 * key by HKDF-SHA256 (RFC 5869), so a key for recorded bodies can never decrypt a provider credential.
 * Sealed format: version byte (1) | 12-byte IV | ciphertext | 16-byte tag. The AAD binds a ciphertext to its
 * owner (e.g. exchange id + part) so ciphertexts cannot be swapped between rows.
 */
export type KeyPurpose = 'provider-credentials' | 'exchange-bodies' | 'token-vault' | 'identity' | 'approvals';

const VERSION = 1;

export class Keyring {
  readonly #keys = new Map<KeyPurpose, Buffer>();
  readonly #master: Buffer;

  constructor(master: Buffer) {
    if (master.length !== 32) throw new TypeError('master key must be 32 bytes');
    this.#master = master;
  }

  key(purpose: KeyPurpose): Buffer {
    let k = this.#keys.get(purpose);
    if (!k) {
      k = Buffer.from(hkdfSync('sha256', this.#master, Buffer.alloc(0), `portcullis/${purpose}/v1`, 32));
      this.#keys.set(purpose, k);
    }
    return k;
  }

  seal(purpose: KeyPurpose, plaintext: Uint8Array, aad: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key(purpose), iv);
    cipher.setAAD(Buffer.from(aad));
    const head = Buffer.from([VERSION]);
    const body = cipher.update(plaintext);
    const tail = cipher.final();
    return Buffer.concat([head, iv, body, tail, cipher.getAuthTag()]);
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
