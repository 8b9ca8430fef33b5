import pg from 'pg';
import { verifyStore, type VerifyReport } from '../../src/audit/verify-store.ts';
import type { AuditRepo } from '../../src/audit/repo.ts';

/** The chain entries about one exchange, across every writer: kind, writer and the recorded status. */
export async function chainEntriesFor(pgUrl: string, exchangeId: string): Promise<{ kind: string; writer: string; status: string | null; errorCode: string | null }[]> {
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  try {
    const r = await c.query<{ kind: string; writer: string; payload_json: string }>('SELECT kind, writer, payload_json FROM audit_entries WHERE ref_id = $1 ORDER BY at, seq', [exchangeId]);
    return r.rows.map((x) => {
      const p = JSON.parse(x.payload_json) as { status?: string; error_code?: string | null };
      return { kind: x.kind, writer: x.writer, status: p.status ?? null, errorCode: p.error_code ?? null };
    });
  } finally {
    await c.end();
  }
}

/** Verifies every writer's chain; on failure the message lists what the verifier found. */
export async function verifiedTrail(repo: AuditRepo): Promise<VerifyReport> {
  const report = await verifyStore({ repo, now: Date.now() });
  if (!report.ok) throw new Error(`audit trail does not verify: ${JSON.stringify(report.problems.slice(0, 5))}`);
  return report;
}
