import type { AuditEntry } from './chain.ts';
import type { Problem } from './verify.ts';

/**
 * Ties every retention tombstone to a chained retention run. A tombstone is a row anyone with write access to the
 * store could add to hide a deleted body, so verification accepts one only when
 * - a `retention.purged` entry in the chain is dated exactly as the tombstone (`purged_at`), and
 * - the exchange started (by its own chained `exchange.started` entry) before that run's cutoff.
 * A forged tombstone can then only cover a body that retention had already removed.
 *
 * Runs chained before `purged_at` was recorded match a tombstone dated up to LEGACY_WINDOW_MS before the entry
 * (the run appended its entry right after purging).
 */
const LEGACY_WINDOW_MS = 600_000;

interface Run {
  purgedAt: number | null;
  at: number;
  /** Exchanges started before this were eligible: the later of the two cutoffs. */
  cutoff: number;
}

interface Dated {
  /** Latest chained start among the exchanges tombstoned at this date, and where it is. */
  latest: { startedAt: number; exchangeId: string; writer: string; seq: number } | null;
  example: { exchangeId: string; writer: string; seq: number };
  count: number;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Memory grows with the number of distinct tombstone dates (one per retention run), not with exchanges. */
export class TombstoneLedger {
  readonly #runs: Run[] = [];
  readonly #dates = new Map<number, Dated>();

  /** Every chained entry passes here; retention runs are kept. */
  noteEntry(e: AuditEntry): void {
    if (e.kind !== 'retention.purged') return;
    const p = e.payload;
    const cutoffs = [num(p.bodies_before), num(p.metadata_before)].filter((x): x is number => x !== null);
    if (cutoffs.length > 0) this.#runs.push({ purgedAt: num(p.purged_at), at: e.at, cutoff: Math.max(...cutoffs) });
  }

  /** An exchange entry found its exchange tombstoned; `startedAt` from its chained start entry, if this is one. */
  claim(purgedAt: number, startedAt: number | null, at: { exchangeId: string; writer: string; seq: number }): void {
    let d = this.#dates.get(purgedAt);
    if (!d) this.#dates.set(purgedAt, (d = { latest: null, example: at, count: 0 }));
    d.count++;
    if (startedAt !== null && (!d.latest || startedAt > d.latest.startedAt)) d.latest = { startedAt, ...at };
  }

  problems(): Problem[] {
    const out: Problem[] = [];
    for (const [purgedAt, d] of this.#dates) {
      const run = this.#runs.find((r) => r.purgedAt === purgedAt)
        ?? this.#runs.find((r) => r.purgedAt === null && r.at >= purgedAt && r.at - purgedAt <= LEGACY_WINDOW_MS);
      const when = new Date(purgedAt).toISOString();
      if (!run) {
        out.push({
          code: 'tombstone_unaccounted', writer: d.example.writer, seq: d.example.seq, exchangeId: d.example.exchangeId,
          message: `${d.count} body record(s) are tombstoned as purged at ${when}, but no retention run in the chain purged then (e.g. exchange ${d.example.exchangeId})`,
        });
      } else if (d.latest && d.latest.startedAt >= run.cutoff) {
        out.push({
          code: 'tombstone_outside_retention', writer: d.latest.writer, seq: d.latest.seq, exchangeId: d.latest.exchangeId,
          message: `exchange ${d.latest.exchangeId} is tombstoned by the retention run of ${when}, but started after that run's cutoff ${new Date(run.cutoff).toISOString()}`,
        });
      }
    }
    return out;
  }
}
