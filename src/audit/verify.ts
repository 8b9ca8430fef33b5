import { checkpointSignatureValid, entryHash, GENESIS_HASH, type AuditEntry, type Checkpoint, type PublicKeyInfo } from './chain.ts';
import type { BodyDigests, StoredBodies, StoredMessageDigest } from './repo.ts';
import type { TombstoneLedger } from './tombstones.ts';

/**
 * Pure verification of audit chains, checkpoints and body digests. Used online (verify-store.ts, over the store)
 * and offline (bundle.ts, over an export). Every problem names the writer and sequence number (or exchange id) it
 * was found at, so an auditor can go straight to it.
 */
export type ProblemCode =
  | 'entry_modified' | 'entry_missing' | 'entry_out_of_order' | 'chain_broken' | 'tail_truncated'
  | 'checkpoint_forged' | 'checkpoint_unknown_key' | 'checkpoint_mismatch'
  | 'body_modified' | 'body_missing' | 'tombstone_unaccounted' | 'tombstone_outside_retention' | 'anchor_unverified' | 'tail_unsealed'
  | 'bundle_malformed' | 'bundle_signature_invalid' | 'entry_unexpected' | 'manifest_mismatch' | 'checkpoint_missing';

export interface Problem {
  code: ProblemCode;
  writer?: string;
  seq?: number;
  exchangeId?: string;
  message: string;
}

export interface WriterSummary {
  writer: string;
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** Highest seq covered by a valid signed checkpoint. */
  sealedSeq: number;
}

/** How far from its stored position an entry may have moved and still be recognised as reordered. */
const REORDER_WINDOW = 64;

/** Streams one writer's entries (ascending seq) and records what is wrong with them. */
export class ChainVerifier {
  readonly writer: string;
  readonly problems: Problem[] = [];
  /** Stored hash per seq for the seqs a checkpoint names (to compare after the walk). */
  readonly #wanted: Set<number>;
  readonly hashesAt = new Map<number, string>();
  #expectedSeq: number;
  #expectedPrev: string;
  #lastHadProblem = false;
  entries = 0;
  firstSeq: number | null = null;
  lastSeq: number | null = null;
  lastHash: string | null = null;

  /** `anchor`: the chain starts after this (seq, hash) — an export or a pruned trail; default genesis. */
  constructor(writer: string, wantedSeqs: Iterable<number>, anchor?: { seq: number; hash: string }) {
    this.writer = writer;
    this.#wanted = new Set(wantedSeqs);
    this.#expectedSeq = (anchor?.seq ?? 0) + 1;
    this.#expectedPrev = anchor?.hash ?? GENESIS_HASH;
  }

  push(e: AuditEntry): void {
    this.entries++;
    this.firstSeq ??= e.seq;
    this.lastSeq = e.seq;
    this.lastHash = e.hash;
    if (this.#wanted.has(e.seq)) this.hashesAt.set(e.seq, e.hash);
    const at = { writer: this.writer, seq: e.seq };
    let problem = false;
    if (e.seq > this.#expectedSeq) {
      const n = e.seq - this.#expectedSeq;
      this.problems.push({ code: 'entry_missing', ...at, seq: this.#expectedSeq, message: `${n} entr${n === 1 ? 'y' : 'ies'} missing: seq ${this.#expectedSeq}${n > 1 ? `..${e.seq - 1}` : ''} of writer ${this.writer} (deleted)` });
      problem = true;
    }
    const { hash: _stored, ...body } = e;
    if (entryHash(body) !== e.hash) {
      const writtenAs = this.#writtenAs(e);
      this.problems.push(writtenAs === undefined
        ? { code: 'entry_modified', ...at, message: `entry seq ${e.seq} of writer ${this.writer} was modified after it was written (its hash does not match its content)` }
        : { code: 'entry_out_of_order', ...at, message: `entry stored at seq ${e.seq} of writer ${this.writer} was written as seq ${writtenAs} (entries reordered or renumbered)` });
      problem = true;
    } else if (e.prev !== this.#expectedPrev && !problem && !this.#lastHadProblem) {
      this.problems.push({ code: 'chain_broken', ...at, message: `entry seq ${e.seq} of writer ${this.writer} does not follow the entry before it: an earlier entry was rewritten, removed or reordered` });
      problem = true;
    }
    this.#lastHadProblem = problem;
    // Resynchronise on what is stored so one tampered entry is reported once, not as a cascade.
    this.#expectedSeq = e.seq + 1;
    this.#expectedPrev = e.hash;
  }

  #writtenAs(e: AuditEntry): number | undefined {
    for (let d = 1; d <= REORDER_WINDOW; d++) {
      for (const seq of [e.seq + d, e.seq - d]) {
        if (seq >= 1 && entryHash({ ...e, seq }) === e.hash) return seq;
      }
    }
    return undefined;
  }

  /** Checks this writer's checkpoints against the walked entries; returns the highest validly sealed seq. */
  finish(checkpoints: Checkpoint[], keys: PublicKeyInfo[]): number {
    const byId = new Map(keys.map((k) => [k.keyId, k]));
    let sealed = 0;
    let maxSigned = 0;
    for (const c of checkpoints) {
      const at = { writer: this.writer, seq: c.seq };
      const key = byId.get(c.keyId);
      if (!key) {
        this.problems.push({ code: 'checkpoint_unknown_key', ...at, message: `checkpoint at seq ${c.seq} of writer ${this.writer} is signed by unknown key ${c.keyId}` });
        continue;
      }
      if (!checkpointSignatureValid(c, key.publicKeyPem)) {
        this.problems.push({ code: 'checkpoint_forged', ...at, message: `checkpoint at seq ${c.seq} of writer ${this.writer} has an invalid signature (forged or altered)` });
        continue;
      }
      maxSigned = Math.max(maxSigned, c.seq);
      const stored = this.hashesAt.get(c.seq);
      if (stored === undefined) continue; // reported as truncation/missing below
      if (stored !== c.hash) {
        this.problems.push({ code: 'checkpoint_mismatch', ...at, message: `chain of writer ${this.writer} at seq ${c.seq} differs from the signed checkpoint: history was rewritten` });
        continue;
      }
      sealed = Math.max(sealed, c.seq);
    }
    const last = this.lastSeq ?? 0;
    if (maxSigned > last) {
      this.problems.push({ code: 'tail_truncated', writer: this.writer, seq: last + 1, message: `writer ${this.writer} ends at seq ${last} but a signed checkpoint covers seq ${maxSigned}: entries ${last + 1}..${maxSigned} were removed (truncated tail)` });
    } else if (last > sealed) {
      this.problems.push({ code: 'tail_unsealed', writer: this.writer, seq: sealed + 1, message: `entries ${sealed + 1}..${last} of writer ${this.writer} are not yet covered by a signed checkpoint (a truncation there would not be detectable)` });
    }
    return sealed;
  }

  summary(sealedSeq: number): WriterSummary {
    return { writer: this.writer, entries: this.entries, firstSeq: this.firstSeq, lastSeq: this.lastSeq, sealedSeq };
  }
}

/** Problems that do not make the trail invalid (reported, but `ok` stays true). */
export const WARNINGS: ReadonlySet<ProblemCode> = new Set(['tail_unsealed']);

export interface BodyExpectation {
  exchangeId: string;
  writer: string;
  seq: number;
  phase: 'start' | 'finish';
  digests: BodyDigests;
  /** From the chained start payload (`started_at`); null for a finish entry. */
  startedAt: number | null;
}

/**
 * Compares the body digests the chain committed to with what the store holds now. A missing body is accepted
 * behind a tombstone; each tombstone met is handed to `tombstones`, which checks it against the chained runs.
 */
export function checkBodies(expected: BodyExpectation[], stored: Map<string, StoredBodies>, tombstones?: TombstoneLedger): { problems: Problem[]; purged: number } {
  const problems: Problem[] = [];
  let purged = 0;
  for (const x of expected) {
    const s = stored.get(x.exchangeId);
    const at = { writer: x.writer, seq: x.seq, exchangeId: x.exchangeId };
    const parts: [string, string | null | undefined, string | null][] = x.phase === 'start'
      ? [['client_request', x.digests.client_request, s?.digests.client_request ?? null], ['upstream_request', x.digests.upstream_request, s?.digests.upstream_request ?? null]]
      : [['response', x.digests.response, s?.digests.response ?? null]];
    if (x.phase === 'finish') {
      const want = x.digests.segments ?? [];
      const have = new Map((s?.digests.segments ?? []).map((g) => [g.seq, g.sha256]));
      for (const g of want) parts.push([`segment ${g.seq}`, g.sha256, have.get(g.seq) ?? null]);
      for (const seq of have.keys()) if (!want.some((g) => g.seq === seq)) parts.push([`segment ${seq}`, null, have.get(seq) ?? null]);
    }
    const tombstoned = s?.purgedAt !== null && s?.purgedAt !== undefined;
    if (tombstoned) tombstones?.claim(s.purgedAt!, x.startedAt, at);
    let anyPurged = false;
    for (const [part, want, have] of parts) {
      if ((want ?? null) === have) continue;
      if (have === null && tombstoned) { anyPurged = true; continue; }
      problems.push(have === null
        ? { code: 'body_missing', ...at, message: `${part} of exchange ${x.exchangeId} is missing without a retention tombstone (audit entry seq ${x.seq} of writer ${x.writer})` }
        : { code: 'body_modified', ...at, message: `${part} of exchange ${x.exchangeId} does not match the hash recorded in audit entry seq ${x.seq} of writer ${x.writer} (edited after recording)` });
    }
    if (anyPurged) purged++;
  }
  return { problems, purged };
}

/** The deduplicated messages an exchange start committed to (stored first by it): [scope, ref, sha256]. */
export function messageExpectations(x: BodyExpectation): { scope: string; ref: string; sha256: string }[] {
  const m = x.digests.messages;
  if (x.phase !== 'start' || !m || typeof m !== 'object' || typeof m.scope !== 'string' || !Array.isArray(m.added)) return [];
  return m.added.filter((a) => Array.isArray(a) && typeof a[0] === 'string' && typeof a[1] === 'string').map(([ref, sha256]) => ({ scope: m.scope, ref, sha256 }));
}

export const messageKey = (scope: string, ref: string): string => `${scope}/${ref}`;

/**
 * Compares each deduplicated message with the digest chained by the exchange that stored it first. A message is
 * removed only with its whole conversation, behind a tombstone dated by the retention run, which is accounted like
 * an exchange's (the storing exchange started before that run's cutoff).
 */
export function checkMessages(expected: BodyExpectation[], stored: Map<string, StoredMessageDigest>, tombstones?: TombstoneLedger): { problems: Problem[]; checked: number; purged: number } {
  const problems: Problem[] = [];
  let checked = 0;
  let purged = 0;
  for (const x of expected) {
    const at = { writer: x.writer, seq: x.seq, exchangeId: x.exchangeId };
    for (const m of messageExpectations(x)) {
      checked++;
      const s = stored.get(messageKey(m.scope, m.ref));
      if (s?.sha256 === m.sha256) continue;
      if (!s?.sha256 && s?.purgedAt !== null && s?.purgedAt !== undefined) {
        tombstones?.claim(s.purgedAt, x.startedAt, at);
        purged++;
        continue;
      }
      problems.push(!s?.sha256
        ? { code: 'body_missing', ...at, message: `message ${m.ref} of conversation ${m.scope} (stored first by exchange ${x.exchangeId}) is missing without a retention tombstone (audit entry seq ${x.seq} of writer ${x.writer})` }
        : { code: 'body_modified', ...at, message: `message ${m.ref} of conversation ${m.scope} (stored first by exchange ${x.exchangeId}) does not match the hash recorded in audit entry seq ${x.seq} of writer ${x.writer} (edited after recording)` });
    }
  }
  return { problems, checked, purged };
}

/** Body digests an exchange entry committed to, if any. */
export function bodyExpectation(e: AuditEntry): BodyExpectation | undefined {
  if ((e.kind !== 'exchange.started' && e.kind !== 'exchange.finished') || !e.refId) return undefined;
  const b = e.payload.bodies;
  if (!b || typeof b !== 'object' || Array.isArray(b)) return undefined;
  const start = e.kind === 'exchange.started';
  const startedAt = start && typeof e.payload.started_at === 'number' ? e.payload.started_at : null;
  return { exchangeId: e.refId, writer: e.writer, seq: e.seq, phase: start ? 'start' : 'finish', digests: b, startedAt };
}
