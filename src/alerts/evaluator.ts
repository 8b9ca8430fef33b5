import type { AlertRuleConfig, AlertsConfig } from './config-schema.ts';
import { compileRules, hitsOf, type CostOf } from './rules.ts';
import type { AlertRepo, Firing } from './types.ts';

export interface AlertEvaluator {
  /** Evaluates every finished exchange not yet evaluated (bounded by `maxBatches`); returns how many. */
  catchUp(maxBatches?: number): Promise<number>;
  stop(): Promise<void>;
}

export interface EvaluatorOptions {
  repo: AlertRepo;
  config: AlertsConfig;
  /** The active policy's prices (spend rules), read per batch. */
  costOf(): CostOf;
  now(): number;
  /**
   * Tells the world about a firing (trail, SIEM event, webhooks); resolves once the trail and the event are
   * written. A firing whose notice failed, or whose replica died before it, is retried from the store.
   */
  notify(f: Firing): Promise<void>;
  onError(err: unknown, during: 'evaluate' | 'notify'): void;
}

/** Firings not confirmed notified this long after they opened are picked up again (their replica may have died). */
const RENOTIFY_AFTER_MS = 60_000;
const DAY_MS = 86_400_000;

function horizonMs(rules: readonly AlertRuleConfig[]): number {
  return Math.max(DAY_MS, ...rules.map((r) => (r.window_minutes ?? 0) * 60_000)) + 3_600_000;
}

/**
 * Keeps the alert rules current as exchanges finish, like the analytics roller: every `eval_interval_ms` it takes
 * batches of finished, not yet evaluated exchanges (each batch one transaction in the store: hits, firings,
 * suspensions and `alerted` flags together) and notifies the firings it opened. Every replica runs one; the store
 * hands each exchange to one of them and inserts each firing once.
 */
export function startAlertEvaluator(o: EvaluatorOptions): AlertEvaluator {
  const rules = compileRules(o.config.rules);
  let stopped = false;
  let running: Promise<number> | undefined;
  let lastPrune = 0;
  let lastSweep = 0;
  const notify = async (f: Firing): Promise<void> => {
    try {
      await o.notify(f);
      await o.repo.markNotified(f.id, o.now());
    } catch (err) {
      o.onError(err, 'notify');
    }
  };
  const catchUp = (maxBatches = 100): Promise<number> => {
    const prev = running ?? Promise.resolve(0);
    const run = prev.catch(() => 0).then(async () => {
      let total = 0;
      for (let i = 0; i < maxBatches; i++) {
        const now = o.now();
        const costOf = o.costOf();
        const r = await o.repo.evaluate(o.config.batch_size, rules, (rows) => hitsOf({ rules: o.config.rules, rows, costOf, now }), now);
        total += r.evaluated;
        for (const f of r.opened) await notify(f);
        if (r.evaluated < o.config.batch_size) break;
      }
      const now = o.now();
      if (now - lastSweep > RENOTIFY_AFTER_MS / 2) {
        lastSweep = now;
        for (const f of await o.repo.unnotified(now - RENOTIFY_AFTER_MS, 100)) await notify(f);
      }
      if (now - lastPrune > 3_600_000) {
        lastPrune = now;
        await o.repo.prune(now - horizonMs(o.config.rules));
      }
      return total;
    });
    running = run;
    return run;
  };
  const tick = (): void => {
    if (stopped) return;
    catchUp().catch((err: unknown) => o.onError(err, 'evaluate')).finally(() => {
      if (!stopped) timer = setTimeout(tick, o.config.eval_interval_ms).unref();
    });
  };
  let timer: NodeJS.Timeout | undefined = o.config.enabled ? setTimeout(tick, o.config.eval_interval_ms).unref() : undefined;
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
