import type { CostOf } from './fold.ts';
import { foldApprovals, foldExchanges } from './fold.ts';
import type { AnalyticsConfig } from './config-schema.ts';
import type { AnalyticsRepo } from './types.ts';

export interface AnalyticsRoller {
  /** Folds every finished exchange and every approval change not yet rolled up (bounded by `maxBatches` each); returns how many rows it folded. */
  catchUp(maxBatches?: number): Promise<number>;
  stop(): Promise<void>;
}

export interface RollerOptions {
  repo: AnalyticsRepo;
  config: AnalyticsConfig;
  /** The active policy's prices, read per batch (a new policy version prices what finishes after it). */
  costOf(): CostOf;
  now(): number;
  onError(err: unknown): void;
}

/**
 * Keeps the rollups current: every `roll_interval_ms` it folds finished exchanges in batches (each batch one
 * transaction: deltas and `rolled` flags together, so a crash leaves either both or neither), and prunes minute
 * buckets past their retention once an hour. Every replica runs one; the store hands each exchange to one of them.
 */
export function startAnalyticsRoller(o: RollerOptions): AnalyticsRoller {
  let stopped = false;
  let running: Promise<number> | undefined;
  let lastPrune = 0;
  const batch = async (): Promise<number> => o.repo.roll(o.config.batch_size, (rows) => foldExchanges(rows, o.costOf()));
  const catchUp = (maxBatches = 100): Promise<number> => {
    // One pass at a time per process; a caller arriving during a pass waits for it and then runs its own, so
    // what finished before the call is folded when it resolves.
    const prev = running ?? Promise.resolve(0);
    const run = prev.catch(() => 0).then(async () => {
      let total = 0;
      for (let i = 0; i < maxBatches; i++) {
        const n = await batch();
        total += n;
        if (n < o.config.batch_size) break;
      }
      // Then approvals requested or decided since (docs/analytics.md#approvals), the same way.
      for (let i = 0; i < maxBatches; i++) {
        const n = await o.repo.rollApprovals(o.config.batch_size, foldApprovals);
        total += n;
        if (n < o.config.batch_size) break;
      }
      // Exchanges that have no client tool yet (older rows, older replicas): the list's client_tool filter needs it.
      for (let i = 0; i < maxBatches; i++) if ((await o.repo.backfillClientTools(o.config.batch_size)) < o.config.batch_size) break;
      const now = o.now();
      if (now - lastPrune > 3_600_000) {
        lastPrune = now;
        await o.repo.prune('minute', now - o.config.minute_retention_hours * 3_600_000);
      }
      return total;
    });
    running = run;
    return run;
  };
  const tick = (): void => {
    if (stopped) return;
    catchUp().catch((err: unknown) => o.onError(err)).finally(() => {
      if (!stopped) timer = setTimeout(tick, o.config.roll_interval_ms).unref();
    });
  };
  let timer: NodeJS.Timeout | undefined = o.config.enabled ? setTimeout(tick, o.config.roll_interval_ms).unref() : undefined;
  return {
    catchUp,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
  };
}
