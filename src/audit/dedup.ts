import { createHmac } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.ts';
import type { StartMessages, StoredMessage } from '../store/ports.ts';
import { sharedPrefix, splitRanges } from './body-split.ts';

/**
 * Content-addressed request bodies (docs/audit.md#deduplicated-request-bodies). Within one conversation — scope =
 * keyed hash of the caller and the client's conversation id — each message of a request body (and each large
 * `system`/`tools`/`instructions` value; src/audit/body-split.ts) is stored once, sealed, under
 *
 *   ref = HMAC-SHA256(scope key, bytes)[0..12),  scope key = HMAC-SHA256(K_bodies, "portcullis/messages/v1\n" || scope)
 *
 * so equal text in two conversations or tenants gets unrelated refs, and a ref reveals nothing without the master
 * key. A message is sealed (AES-256-GCM, AAD `msg/<scope>/<ref>`) with the synthetic IV HMAC[12..24): equal bytes in
 * one conversation seal to equal ciphertext, so two replicas that both store a message first agree on its digest.
 * The exchange keeps a skeleton — its body with those ranges cut out plus where each ref goes — sealed as the body
 * was before. Reading splices the messages back in: the exact bytes the client sent.
 *
 * Skeleton plaintext: MAGIC | scope (16 bytes) | varint n | n × (varint gap, ref (12 bytes)) | the remaining bytes,
 * where gap = the ref's offset in the remaining bytes minus the previous ref's offset.
 */
const MAGIC = Buffer.from('\0pcl-dedup/1\n', 'latin1');
const REF_BYTES = 12;
const SCOPE_BYTES = 16;

export interface DedupScope {
  /** 32 hex: stored in clear, with the messages. */
  id: string;
  key: Buffer;
}

/** The conversation scope of an exchange: only callers with a conversation id (never the time-gap grouping). */
export function messageScope(keyring: Keyring, subject: string | null, conversation: string): DedupScope {
  const id = createHmac('sha256', keyring.key('exchange-bodies')).update(`portcullis/message-scope/v1\n${subject ?? ''}\n${conversation}`).digest('hex').slice(0, SCOPE_BYTES * 2);
  return { id, key: scopeKey(keyring, id) };
}

function scopeKey(keyring: Keyring, scopeId: string): Buffer {
  return createHmac('sha256', keyring.key('exchange-bodies')).update(`portcullis/messages/v1\n${scopeId}`).digest();
}

export function messageAad(scope: string, ref: string): string {
  return `msg/${scope}/${ref}`;
}

/** Writes `n` as a varint at `at` (7 bits a byte, low first); returns the index after it. */
function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/**
 * Refs known to be stored, per conversation, on this process: a message already stored is neither sealed nor sent to
 * the store again. Bounded, and forgotten after an idle time far below any retention period, so a ref taken as
 * known was used here recently; the store still refuses a start that reuses refs of a conversation it does not hold
 * (StaleMessageRefsError), and the recorder then starts again with every message.
 */
/**
 * The last request body of a conversation and the refs of its ranges: the next turn resends the same messages in
 * the same places, and comparing bytes (memcmp) is far cheaper than a keyed hash of each.
 */
export interface PreviousBody {
  body: Buffer;
  ranges: [number, number][];
  refs: string[];
}

export class KnownMessages {
  readonly #scopes = new Map<string, { refs: Set<string>; usedAt: number; previous?: PreviousBody | undefined }>();
  /** Bytes of previous bodies held, bounded by `maxPreviousBytes` (the least recently used are dropped). */
  #previousBytes = 0;
  readonly #maxPreviousBytes: number;
  readonly #maxScopes: number;
  readonly #maxRefs: number;
  readonly #idleMs: number;

  constructor(o: { maxScopes?: number; maxRefsPerScope?: number; idleMs?: number; maxPreviousBytes?: number } = {}) {
    this.#maxPreviousBytes = o.maxPreviousBytes ?? 64 * 1024 * 1024;
    this.#maxScopes = o.maxScopes ?? 4096;
    this.#maxRefs = o.maxRefsPerScope ?? 16384;
    this.#idleMs = o.idleMs ?? 600_000;
  }

  get(scope: string, now: number): { refs: Set<string>; previous?: PreviousBody | undefined } | undefined {
    const s = this.#scopes.get(scope);
    if (!s) return undefined;
    if (now - s.usedAt > this.#idleMs) {
      this.forget(scope);
      return undefined;
    }
    return s;
  }

  add(scope: string, refs: Iterable<string>, now: number, previous?: PreviousBody): void {
    let s = this.#scopes.get(scope);
    if (s) this.#scopes.delete(scope); // re-inserted: the Map's order is least recently used first
    else s = { refs: new Set(), usedAt: now };
    s.usedAt = now;
    for (const r of refs) s.refs.add(r);
    if (s.refs.size > this.#maxRefs) s.refs.clear();
    if (previous) {
      this.#previousBytes += previous.body.length - (s.previous?.body.length ?? 0);
      s.previous = previous;
    }
    this.#scopes.set(scope, s);
    for (const [k, v] of this.#scopes) {
      if (this.#scopes.size <= this.#maxScopes && this.#previousBytes <= this.#maxPreviousBytes) break;
      if (this.#scopes.size > this.#maxScopes) this.forget(k);
      else if (v.previous) {
        this.#previousBytes -= v.previous.body.length;
        v.previous = undefined;
      }
    }
  }

  forget(scope: string): void {
    const s = this.#scopes.get(scope);
    if (s?.previous) this.#previousBytes -= s.previous.body.length;
    this.#scopes.delete(scope);
  }
}

/** The messages one exchange adds or reuses, shared by its client and upstream bodies. */
export class MessageBatch {
  readonly scope: DedupScope;
  readonly #keyring: Keyring;
  readonly #known: Set<string> | undefined;
  readonly #previous: PreviousBody | undefined;
  readonly added = new Map<string, Buffer>();
  readonly reused = new Set<string>();
  /** The client body as split, for the next turn's comparison (set by `skeleton(…, true)`). */
  split: PreviousBody | undefined;

  constructor(keyring: Keyring, scope: DedupScope, known: { refs: Set<string>; previous?: PreviousBody | undefined } | undefined) {
    this.#keyring = keyring;
    this.scope = scope;
    this.#known = known?.refs;
    this.#previous = known?.previous;
  }

  /** The skeleton plaintext of `body`; the body itself (plainBody) when nothing in it is worth a reference. */
  skeleton(body: Buffer, client = false): Buffer {
    // The upstream body (a probe or a reroute edited it) is compared with this turn's client body.
    const previous = client ? this.#previous : this.split;
    // What an agent's turn shares with the last one is a prefix: neither scanned nor compared again.
    const shared = previous ? sharedPrefix(body, previous.body) : 0;
    const ranges = splitRanges(body, previous && { ranges: previous.ranges, shared });
    if (!ranges || ranges.length === 0) return plainBody(body);
    const refs: string[] = [];
    const out = this.#encode(body, ranges, previous && { ...previous, shared }, refs);
    if (client) this.split = { body, ranges, refs };
    return out;
  }

  get empty(): boolean {
    return this.added.size === 0 && this.reused.size === 0;
  }

  #ref(body: Buffer, s: number, e: number, same: string | undefined): string {
    if (same !== undefined && this.added.has(same)) return same;
    if (same !== undefined && this.#known?.has(same)) {
      this.reused.add(same);
      return same;
    }
    const bytes = body.subarray(s, e);
    const mac = createHmac('sha256', this.scope.key).update(bytes).digest();
    const ref = mac.toString('hex', 0, REF_BYTES);
    if (this.#known?.has(ref) || this.added.has(ref)) {
      if (!this.added.has(ref)) this.reused.add(ref);
      return ref;
    }
    this.added.set(ref, this.#keyring.sealWithIv('exchange-bodies', bytes, messageAad(this.scope.id, ref), mac.subarray(REF_BYTES, REF_BYTES + 12)));
    return ref;
  }

  #encode(body: Buffer, ranges: [number, number][], previous: (PreviousBody & { shared: number }) | undefined, refs: string[]): Buffer {
    let restLen = body.length;
    for (const [s, e] of ranges) restLen -= e - s;
    // One allocation (varints take at most 5 bytes here), filled in place; the ranges' bytes are not copied.
    const out = Buffer.allocUnsafe(MAGIC.length + SCOPE_BYTES + 5 + ranges.length * (5 + REF_BYTES) + restLen);
    let at = MAGIC.copy(out, 0);
    at += out.write(this.scope.id, at, 'hex');
    at = writeVarint(out, at, ranges.length);
    let rest = 0;
    let prevAt = 0;
    let pos = 0;
    for (const [i, [s, e]] of ranges.entries()) {
      rest += s - pos;
      at = writeVarint(out, at, rest - prevAt);
      prevAt = rest;
      const ref = this.#ref(body, s, e, previous && sameAsBefore(body, s, e, previous, i));
      refs.push(ref);
      at += out.write(ref, at, 'hex');
      pos = e;
    }
    pos = 0;
    for (const [s, e] of ranges) {
      at += body.copy(out, at, pos, s);
      pos = e;
    }
    at += body.copy(out, at, pos);
    return out.subarray(0, at);
  }

  /** What the store writes with the exchange (ports.ts StartMessages). */
  forStore(): StartMessages {
    return { scope: this.scope.id, reused: this.reused.size, added: [...this.added].map(([ref, sealed]) => ({ ref, sealed })) };
  }
}

/**
 * The previous turn's ref for range `i` when it holds the same bytes at the same place: inside the prefix both
 * bodies share, without comparing; elsewhere compared in place (memcmp). Then no keyed hash is needed.
 */
function sameAsBefore(body: Buffer, s: number, e: number, previous: PreviousBody & { shared: number }, i: number): string | undefined {
  const p = previous.ranges[i];
  if (!p || p[1] - p[0] !== e - s) return undefined;
  if (p[0] === s && e <= previous.shared) return previous.refs[i];
  return body.compare(previous.body, p[0], p[1], s, e) === 0 ? previous.refs[i] : undefined;
}

/**
 * A body stored whole: as it is, unless it happens to begin with the skeleton's marker (a client could send that),
 * which is then wrapped as a skeleton without references so reading never mistakes it for one.
 */
export function plainBody(body: Buffer): Buffer {
  if (!isSkeleton(body)) return body;
  return Buffer.concat([MAGIC, Buffer.alloc(SCOPE_BYTES), Buffer.from([0]), body]);
}

export function isSkeleton(plain: Uint8Array): boolean {
  return plain.length >= MAGIC.length && Buffer.from(plain.buffer, plain.byteOffset, MAGIC.length).equals(MAGIC);
}

export interface Skeleton {
  scope: string;
  refs: { at: number; ref: string }[];
  rest: Buffer;
}

export function decodeSkeleton(plain: Buffer): Skeleton {
  let i = MAGIC.length;
  const scope = plain.toString('hex', i, i + SCOPE_BYTES);
  i += SCOPE_BYTES;
  const read = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (i >= plain.length) throw new Error('recorded body skeleton is truncated');
      const b = plain[i++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  };
  const count = read();
  const refs: Skeleton['refs'] = [];
  let at = 0;
  for (let k = 0; k < count; k++) {
    at += read();
    if (i + REF_BYTES > plain.length) throw new Error('recorded body skeleton is truncated');
    refs.push({ at, ref: plain.toString('hex', i, i + REF_BYTES) });
    i += REF_BYTES;
  }
  return { scope, refs, rest: plain.subarray(i) };
}

/**
 * The exact bytes of a recorded body: an old-layout body as it is, a skeleton with its messages spliced back in.
 * Each message is opened with its scope and ref as AAD and its ref recomputed, so a stored message that was swapped,
 * edited or removed is an error here, never a silently different body.
 */
export async function assembleBody(keyring: Keyring, plain: Buffer, fetch: (scope: string, refs: string[]) => Promise<StoredMessage[]>): Promise<Buffer> {
  if (!isSkeleton(plain)) return plain;
  const sk = decodeSkeleton(plain);
  if (sk.refs.length === 0) return sk.rest;
  const wanted = [...new Set(sk.refs.map((r) => r.ref))];
  const stored = new Map((await fetch(sk.scope, wanted)).map((m) => [m.ref, m.sealed]));
  const key = scopeKey(keyring, sk.scope);
  const opened = new Map<string, Buffer>();
  for (const ref of wanted) {
    const sealed = stored.get(ref);
    if (!sealed) throw new Error(`recorded body is incomplete: message ${ref} of conversation ${sk.scope} is not stored`);
    const bytes = keyring.open('exchange-bodies', sealed, messageAad(sk.scope, ref));
    if (createHmac('sha256', key).update(bytes).digest('hex').slice(0, REF_BYTES * 2) !== ref) throw new Error(`recorded message ${ref} does not match its reference`);
    opened.set(ref, bytes);
  }
  const parts: Buffer[] = [];
  let pos = 0;
  for (const r of sk.refs) {
    parts.push(sk.rest.subarray(pos, r.at), opened.get(r.ref)!);
    pos = r.at;
  }
  parts.push(sk.rest.subarray(pos));
  return Buffer.concat(parts);
}
