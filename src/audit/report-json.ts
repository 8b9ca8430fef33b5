import type { BundleReport } from './bundle-verify.ts';
import type { Problem, WriterSummary } from './verify.ts';
import type { VerifyReport } from './verify-store.ts';

/**
 * Verification reports as the admin API and `--json` print them: snake_case like every other answer of the API
 * (docs/api.md). Explicit, so a field renamed in the code cannot silently change the contract.
 */
export function verifyReportJson(r: VerifyReport): Record<string, unknown> {
  return {
    ok: r.ok, checked_at: r.checkedAt, entries: r.entries, checkpoints: r.checkpoints, writers: r.writers.map(writerJson),
    bodies: { checked: r.bodies.checked, purged: r.bodies.purged }, keys: r.keys.map((k) => ({ key_id: k.keyId, public_key_pem: k.publicKeyPem })),
    problems: r.problems.map(problemJson), warnings: r.warnings.map(problemJson),
  };
}

export function bundleReportJson(r: BundleReport): Record<string, unknown> {
  return {
    ok: r.ok, key_trust: r.keyTrust, key_id: r.keyId, since: r.since, until: r.until, entries: r.entries, checkpoints: r.checkpoints,
    writers: r.writers.map(writerJson), problems: r.problems.map(problemJson), warnings: r.warnings.map(problemJson),
  };
}

function writerJson(w: WriterSummary): Record<string, unknown> {
  return { writer: w.writer, entries: w.entries, first_seq: w.firstSeq, last_seq: w.lastSeq, sealed_seq: w.sealedSeq };
}

function problemJson(p: Problem): Record<string, unknown> {
  return { code: p.code, writer: p.writer ?? null, seq: p.seq ?? null, exchange_id: p.exchangeId ?? null, message: p.message };
}
