import { bundleMessage, keyIdOf, signatureValid, type Json, type PublicKeyInfo } from './chain.ts';
import { BUNDLE_FORMAT, fromBundleCheckpoint, fromBundleEntry, type AuditBundle, type BundleEntry, type ManifestWriter } from './bundle.ts';
import { ChainVerifier, WARNINGS, type Problem, type WriterSummary } from './verify.ts';

export interface BundleReport {
  ok: boolean;
  /** 'pinned' = checked against the key given by the auditor; 'bundle' = against the key inside the bundle. */
  keyTrust: 'pinned' | 'bundle';
  keyId: string | null;
  since: string | null;
  until: string | null;
  entries: number;
  checkpoints: number;
  writers: WriterSummary[];
  problems: Problem[];
  warnings: Problem[];
}

/**
 * Offline verification of an export bundle (bundle.ts): needs nothing but the bundle (and, ideally, the published
 * public key). Checks, per writer: every entry hash, the links between entries, the order in the file, the
 * signed checkpoints, and the signed manifest's anchor and end — so an edited, dropped, reordered or truncated
 * entry, a forged checkpoint or a dropped writer is reported with its writer and sequence number.
 */
export function verifyBundle(raw: unknown, o: { pinnedPublicKeyPem?: string } = {}): BundleReport {
  const problems: Problem[] = [];
  const report = (keyId: string | null, b?: AuditBundle, extra: Partial<BundleReport> = {}): BundleReport => {
    const hard = problems.filter((p) => !WARNINGS.has(p.code));
    return {
      ok: hard.length === 0, keyTrust: o.pinnedPublicKeyPem ? 'pinned' : 'bundle', keyId, since: b?.manifest.since ?? null, until: b?.manifest.until ?? null,
      entries: 0, checkpoints: 0, writers: [], ...extra, problems: hard, warnings: problems.filter((p) => WARNINGS.has(p.code)),
    };
  };
  const shapeError = bundleShapeError(raw);
  if (shapeError) {
    problems.push({ code: 'bundle_malformed', message: `not a ${BUNDLE_FORMAT} bundle: ${shapeError}` });
    return report(null);
  }
  const b = raw as AuditBundle;
  const keys: PublicKeyInfo[] = o.pinnedPublicKeyPem
    ? [{ keyId: keyIdOf(o.pinnedPublicKeyPem), publicKeyPem: o.pinnedPublicKeyPem, createdAt: 0 }]
    : b.public_keys.map((k) => ({ keyId: k.key_id, publicKeyPem: k.public_key_pem, createdAt: Date.parse(k.created_at) }));
  const signer = keys.find((k) => k.keyId === b.key_id);
  if (!signer || !signatureValid(bundleMessage(b.manifest as unknown as Json), b.signature, signer.publicKeyPem)) {
    problems.push({ code: 'bundle_signature_invalid', message: signer ? 'the bundle manifest signature is invalid (manifest altered or forged)' : `the bundle manifest is signed by key ${b.key_id}, which is not ${o.pinnedPublicKeyPem ? 'the pinned key' : 'in the bundle'}` });
  }
  const byWriter = new Map<string, { e: BundleEntry; index: number }[]>();
  b.entries.forEach((e, index) => {
    const list = byWriter.get(e.writer) ?? [];
    list.push({ e, index });
    byWriter.set(e.writer, list);
  });
  const manifest = new Map(b.manifest.writers.map((w) => [w.writer, w]));
  const summaries: WriterSummary[] = [];
  for (const writer of new Set([...manifest.keys(), ...byWriter.keys()])) {
    const m = manifest.get(writer);
    const list = byWriter.get(writer) ?? [];
    if (!m) {
      problems.push({ code: 'entry_unexpected', writer, message: `${list.length} entries of writer ${writer} are not listed in the signed manifest (added after export)` });
      continue;
    }
    checkFileOrder(writer, list, problems);
    const sorted = list.map((x) => x.e).sort((x, y) => x.seq - y.seq);
    const cps = b.checkpoints.filter((c) => c.writer === writer).map(fromBundleCheckpoint);
    const v = new ChainVerifier(writer, cps.map((c) => c.seq), { seq: m.anchor_seq, hash: m.anchor_hash });
    for (const e of sorted) v.push(fromBundleEntry(e));
    const sealed = v.finish(cps, keys);
    problems.push(...v.problems);
    checkAgainstManifest(m, v, sealed, problems);
    summaries.push(v.summary(sealed));
  }
  // One finding per place: a renumbered entry is seen both by the file order and by its hash.
  const seen = new Set<string>();
  const unique = problems.filter((p) => {
    const k = `${p.code}|${p.writer ?? ''}|${p.seq ?? ''}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
  problems.splice(0, problems.length, ...unique);
  return report(b.key_id, b, { entries: b.entries.length, checkpoints: b.checkpoints.length, writers: summaries });
}

/** Entries of one writer must appear in ascending seq order; a line moved in the file is reported where it sits. */
function checkFileOrder(writer: string, list: { e: BundleEntry; index: number }[], problems: Problem[]): void {
  let prev = -Infinity;
  for (const { e, index } of list) {
    if (e.seq <= prev) problems.push({ code: 'entry_out_of_order', writer, seq: e.seq, message: `entry seq ${e.seq} of writer ${writer} (position ${index} in the bundle) comes after seq ${prev}: entries were reordered` });
    prev = Math.max(prev, e.seq);
  }
}

function checkAgainstManifest(m: ManifestWriter, v: ChainVerifier, sealed: number, problems: Problem[]): void {
  const last = v.lastSeq ?? m.anchor_seq;
  const at = { writer: m.writer };
  const reported = (code: Problem['code']): boolean => problems.some((p) => p.writer === m.writer && p.code === code);
  if (last < m.last_seq) {
    if (!reported('tail_truncated')) problems.push({ code: 'tail_truncated', ...at, seq: last + 1, message: `writer ${m.writer} ends at seq ${last} but the signed manifest lists entries through seq ${m.last_seq}: entries ${last + 1}..${m.last_seq} were removed` });
  } else if (last > m.last_seq) {
    problems.push({ code: 'entry_unexpected', ...at, seq: m.last_seq + 1, message: `entries ${m.last_seq + 1}..${last} of writer ${m.writer} are not in the signed manifest (appended after export)` });
  } else if (v.lastHash !== null && v.lastHash !== m.last_hash) {
    problems.push({ code: 'manifest_mismatch', ...at, seq: last, message: `entry seq ${last} of writer ${m.writer} differs from the one the signed manifest names` });
  }
  if (last === m.last_seq && m.sealed_seq > 0 && sealed < m.sealed_seq && !problems.some((p) => p.writer === m.writer && p.code.startsWith('checkpoint'))) {
    problems.push({ code: 'checkpoint_missing', ...at, seq: m.sealed_seq, message: `the signed checkpoint at seq ${m.sealed_seq} of writer ${m.writer} was removed from the bundle` });
  }
}

function bundleShapeError(raw: unknown): string | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return 'not a JSON object';
  const b = raw as Record<string, unknown>;
  if (b.format !== BUNDLE_FORMAT) return `format is ${JSON.stringify(b.format)}`;
  const m = b.manifest as Record<string, unknown> | undefined;
  if (!m || typeof m !== 'object' || !Array.isArray(m.writers)) return 'manifest missing';
  if (!Array.isArray(b.entries) || !Array.isArray(b.checkpoints) || !Array.isArray(b.public_keys)) return 'entries, checkpoints or public_keys missing';
  if (typeof b.signature !== 'string' || typeof b.key_id !== 'string') return 'signature missing';
  const badEntry = (b.entries as unknown[]).findIndex((e) => !e || typeof e !== 'object' || typeof (e as BundleEntry).writer !== 'string' || !Number.isSafeInteger((e as BundleEntry).seq)
    || typeof (e as BundleEntry).hash !== 'string' || typeof (e as BundleEntry).prev !== 'string' || typeof (e as BundleEntry).payload !== 'object');
  if (badEntry !== -1) return `entry at position ${badEntry} is malformed`;
  return undefined;
}
