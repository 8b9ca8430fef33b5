import { keyIdOf, type PublicKeyInfo } from './chain.ts';
import type { AuditRepo, StoredBodies, StoredMessageDigest } from './repo.ts';
import { TombstoneLedger } from './tombstones.ts';
import {
  bodyExpectation, ChainVerifier, checkBodies, checkMessages, messageExpectations, messageKey, WARNINGS, type BodyExpectation, type Problem, type WriterSummary,
} from './verify.ts';

export interface VerifyReport {
  ok: boolean;
  checkedAt: string;
  writers: WriterSummary[];
  entries: number;
  checkpoints: number;
  bodies: { checked: number; purged: number };
  keys: { keyId: string; publicKeyPem: string }[];
  problems: Problem[];
  warnings: Problem[];
}

export interface VerifyStoreOptions {
  repo: AuditRepo;
  /** Only trust checkpoints signed by this key (PEM), e.g. the published one — not whatever the store holds. */
  pinnedPublicKeyPem?: string;
  /** Also compare recorded bodies with the hashes in the chain (default true). */
  bodies?: boolean;
  now: number;
  pageSize?: number;
}

/** Verifies every writer's chain, the checkpoints and (by default) the recorded bodies in the store. */
export async function verifyStore(o: VerifyStoreOptions): Promise<VerifyReport> {
  const pageSize = o.pageSize ?? 5000;
  const [keysStored, checkpoints, writers] = await Promise.all([o.repo.keys(), o.repo.checkpoints(), o.repo.writers()]);
  const keys: PublicKeyInfo[] = o.pinnedPublicKeyPem
    ? [{ keyId: keyIdOf(o.pinnedPublicKeyPem), publicKeyPem: o.pinnedPublicKeyPem, createdAt: 0 }]
    : keysStored.map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem, createdAt: k.createdAt }));
  const problems: Problem[] = [];
  const summaries: WriterSummary[] = [];
  const bodies = { checked: 0, purged: 0 };
  // Tombstones are judged once every writer's retention runs are known (a run may be chained by another replica).
  const tombstones = new TombstoneLedger();
  let entries = 0;
  for (const writer of writers) {
    const cps = checkpoints.filter((c) => c.writer === writer);
    const v = new ChainVerifier(writer, cps.map((c) => c.seq));
    let after = 0;
    let pending: BodyExpectation[] = [];
    for (;;) {
      const page = await o.repo.entries({ writer, afterSeq: after, limit: pageSize });
      for (const e of page) {
        v.push(e);
        tombstones.noteEntry(e);
        const b = o.bodies === false ? undefined : bodyExpectation(e);
        if (b) pending.push(b);
      }
      if (pending.length >= 500 || page.length < pageSize) {
        const r = await checkStoredBodies(o.repo, pending, tombstones);
        problems.push(...r.problems);
        bodies.checked += pending.length;
        bodies.purged += r.purged;
        pending = [];
      }
      if (page.length < pageSize) break;
      after = page[page.length - 1]!.seq;
    }
    const sealed = v.finish(cps, keys);
    problems.push(...v.problems);
    summaries.push(v.summary(sealed));
    entries += v.entries;
  }
  problems.push(...tombstones.problems());
  const hard = problems.filter((p) => !WARNINGS.has(p.code));
  return {
    ok: hard.length === 0, checkedAt: new Date(o.now).toISOString(), writers: summaries, entries, checkpoints: checkpoints.length, bodies,
    keys: keys.map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem })),
    problems: hard, warnings: problems.filter((p) => WARNINGS.has(p.code)),
  };
}

async function checkStoredBodies(repo: AuditRepo, expected: BodyExpectation[], tombstones: TombstoneLedger): Promise<{ problems: Problem[]; purged: number }> {
  if (expected.length === 0) return { problems: [], purged: 0 };
  const ids = [...new Set(expected.map((x) => x.exchangeId))];
  const stored = new Map<string, StoredBodies>((await repo.storedBodies(ids)).map((s) => [s.exchangeId, s]));
  const bodies = checkBodies(expected, stored, tombstones);
  // Deduplicated messages: each checked against the entry of the exchange that stored it first.
  const wanted = new Map<string, { scope: string; ref: string }>();
  for (const x of expected) for (const m of messageExpectations(x)) wanted.set(messageKey(m.scope, m.ref), { scope: m.scope, ref: m.ref });
  if (wanted.size === 0) return bodies;
  const messages = new Map<string, StoredMessageDigest>((await repo.storedMessages([...wanted.values()])).map((m) => [messageKey(m.scope, m.ref), m]));
  const m = checkMessages(expected, messages, tombstones);
  return { problems: [...bodies.problems, ...m.problems], purged: bodies.purged };
}

/** Human-readable report lines for the CLI. */
export function formatReport(r: VerifyReport): string[] {
  const lines = [`audit trail: ${r.ok ? 'VERIFIED' : 'FAILED'} — ${r.entries} entries from ${r.writers.length} writer(s), ${r.checkpoints} checkpoint(s), ${r.bodies.checked} body record(s) checked (${r.bodies.purged} purged by retention)`];
  for (const k of r.keys) lines.push(`signing key ${k.keyId}`);
  for (const w of r.writers) lines.push(`  writer ${w.writer}: seq ${w.firstSeq ?? '-'}..${w.lastSeq ?? '-'}, sealed through seq ${w.sealedSeq}`);
  for (const p of r.problems) lines.push(`  PROBLEM ${p.code}: ${p.message}`);
  for (const p of r.warnings) lines.push(`  warning ${p.code}: ${p.message}`);
  return lines;
}
