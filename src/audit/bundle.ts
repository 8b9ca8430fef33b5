import { entryHash, ENTRY_VERSION, type AuditEntry, type Checkpoint, type Json } from './chain.ts';
import type { AuditLog } from './log.ts';
import type { AuditRepo } from './repo.ts';

/**
 * The export bundle: a single JSON document an auditor verifies offline with nothing but the bundle
 * (`portcullis audit verify-bundle`, bundle-verify.ts, or the plain-node/openssl recipe in docs/audit.md).
 *
 * - `entries`: each writer's entries as hashed (the exact object whose JCS, prefixed, is SHA-256'd into `hash`),
 *   contiguous from the first entry in [since, until) up to the first checkpoint at or after the last one, so every
 *   exported entry is covered by a signature made when it was written;
 * - `checkpoints`: the signed checkpoints inside that span;
 * - `manifest` + `signature`: per writer the anchor (the hash the first entry chains to), the last seq/hash and the
 *   sealing checkpoint, signed by the gateway key at export time — so dropping entries at either end, or dropping
 *   a writer, is detected even though each remaining piece is self-consistent;
 * - `public_keys`: the gateway signing keys (compare the key id with the published one, or pass `--key`).
 */
export const BUNDLE_FORMAT = 'portcullis-audit-bundle/v1';

export interface BundleEntry {
  v: number;
  writer: string;
  seq: number;
  at: number;
  kind: string;
  subject: string | null;
  ref_id: string | null;
  payload: { [k: string]: Json };
  prev: string;
  hash: string;
}

export interface BundleCheckpoint {
  writer: string;
  seq: number;
  hash: string;
  at: number;
  key_id: string;
  signature: string;
}

export interface ManifestWriter {
  writer: string;
  anchor_seq: number;
  anchor_hash: string;
  last_seq: number;
  last_hash: string;
  sealed_seq: number;
  entries: number;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  exported_at: string;
  since: string;
  until: string;
  writers: ManifestWriter[];
}

export interface AuditBundle {
  format: typeof BUNDLE_FORMAT;
  manifest: BundleManifest;
  key_id: string;
  signature: string;
  public_keys: { key_id: string; public_key_pem: string; created_at: string }[];
  checkpoints: BundleCheckpoint[];
  entries: BundleEntry[];
}

export function toBundleEntry(e: AuditEntry): BundleEntry {
  return { v: ENTRY_VERSION, writer: e.writer, seq: e.seq, at: e.at, kind: e.kind, subject: e.subject, ref_id: e.refId, payload: e.payload, prev: e.prev, hash: e.hash };
}

export function fromBundleEntry(b: BundleEntry): AuditEntry {
  return { writer: b.writer, seq: b.seq, at: b.at, kind: b.kind, subject: b.subject, refId: b.ref_id, payload: b.payload, prev: b.prev, hash: b.hash };
}

export function toBundleCheckpoint(c: Checkpoint): BundleCheckpoint {
  return { writer: c.writer, seq: c.seq, hash: c.hash, at: c.at, key_id: c.keyId, signature: c.signature };
}

export function fromBundleCheckpoint(c: BundleCheckpoint): Checkpoint {
  return { writer: c.writer, seq: c.seq, hash: c.hash, at: c.at, keyId: c.key_id, signature: c.signature };
}

export interface ExportOptions {
  repo: AuditRepo;
  /** Signs the manifest and seals unsealed heads first. */
  log: AuditLog;
  since: number;
  until: number;
  now: number;
}

/** Builds a bundle of every writer's entries with since <= at < until (extended to the sealing checkpoint). */
export async function exportBundle(o: ExportOptions): Promise<AuditBundle> {
  if (!(o.since < o.until)) throw new TypeError('export range is empty: since must be before until');
  await o.log.checkpoint();
  const [inRange, allCheckpoints, keys] = await Promise.all([o.repo.entriesBetween(o.since, o.until), o.repo.checkpoints(), o.repo.keys()]);
  const spans = new Map<string, { first: number; last: number }>();
  for (const e of inRange) {
    const s = spans.get(e.writer);
    spans.set(e.writer, s ? { first: Math.min(s.first, e.seq), last: Math.max(s.last, e.seq) } : { first: e.seq, last: e.seq });
  }
  const entries: BundleEntry[] = [];
  const checkpoints: BundleCheckpoint[] = [];
  const writers: ManifestWriter[] = [];
  for (const [writer, span] of [...spans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const cps = allCheckpoints.filter((c) => c.writer === writer);
    const seal = cps.filter((c) => c.seq >= span.last).reduce<Checkpoint | undefined>((m, c) => (m && m.seq <= c.seq ? m : c), undefined);
    const last = seal?.seq ?? span.last;
    const rows = await contiguous(o.repo, writer, span.first, last);
    if (rows.length === 0) continue;
    const first = rows[0]!;
    const tail = rows[rows.length - 1]!;
    entries.push(...rows.map(toBundleEntry));
    checkpoints.push(...cps.filter((c) => c.seq >= first.seq && c.seq <= tail.seq).map(toBundleCheckpoint));
    writers.push({ writer, anchor_seq: first.seq - 1, anchor_hash: first.prev, last_seq: tail.seq, last_hash: tail.hash, sealed_seq: seal && seal.seq === tail.seq ? seal.seq : 0, entries: rows.length });
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT, exported_at: new Date(o.now).toISOString(), since: new Date(o.since).toISOString(), until: new Date(o.until).toISOString(), writers,
  };
  const { keyId, signature } = o.log.signManifest(manifest as unknown as Json);
  return {
    format: BUNDLE_FORMAT, manifest, key_id: keyId, signature,
    public_keys: keys.map((k) => ({ key_id: k.keyId, public_key_pem: k.publicKeyPem, created_at: new Date(k.createdAt).toISOString() })),
    checkpoints, entries,
  };
}

async function contiguous(repo: AuditRepo, writer: string, first: number, last: number): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let after = first - 1;
  while (after < last) {
    const page = await repo.entries({ writer, afterSeq: after, limit: Math.min(5000, last - after) });
    if (page.length === 0) break;
    out.push(...page);
    after = page[page.length - 1]!.seq;
  }
  return out;
}

/** Re-hash helper for documentation and tests: the hash an entry of a bundle must carry. */
export function bundleEntryHash(b: BundleEntry): string {
  return entryHash(fromBundleEntry(b));
}
