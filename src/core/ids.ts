import { randomFillSync } from 'node:crypto';

/**
 * Time-ordered, URL-safe ids (48-bit millisecond time + 80 random bits, Crockford base32 like ULID) so records
 * sort by creation in any store without a second index.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

// Random bits come from a pool refilled in bulk (one CSPRNG call per 400 ids).
const POOL = 10 * 400;
let pool = Buffer.alloc(POOL);
let offset = POOL;

function random10(): Buffer {
  if (offset + 10 > POOL) {
    pool = randomFillSync(Buffer.alloc(POOL));
    offset = 0;
  }
  const b = pool.subarray(offset, offset + 10);
  offset += 10;
  return b;
}

export function newId(prefix: string, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rnd = random10();
  let rand = '';
  for (let i = 0; i < 16; i++) {
    // 16 chars × 5 bits = 80 bits from 10 bytes.
    const bit = i * 5;
    const byte = bit >> 3;
    const off = bit & 7;
    const v = ((rnd[byte]! << 8) | (rnd[byte + 1] ?? 0)) >> (11 - off);
    rand += ALPHABET[v & 31]!;
  }
  return `${prefix}_${time}${rand}`;
}
