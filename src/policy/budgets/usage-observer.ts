import type { ExchangeObserver } from '../../audit/exchange-observer.ts';
import type { BudgetSubject } from './compile.ts';
import type { BudgetEnforcer } from './enforcer.ts';

/**
 * Feeds the tokens and spend each exchange really used (ExchangeFinish.usage, from the provider's answer or the
 * stream's final usage event) into the budget counters. Runs for every ending with usage, so a client that
 * aborts a stream after the provider reported usage still pays for it — when its finish is recorded: a finish
 * another replica's recovery refused is not counted (docs/fleet.md, "Taken for dead while alive"). Errors
 * propagate (observer contract: fail closed).
 */
export function createUsageObserver(enforcer: BudgetEnforcer): ExchangeObserver {
  return {
    name: 'budget-usage',
    async onFinish(start, finish) {
      if (!start.subject || !start.model) return;
      const u = finish.usage;
      if (u.inputTokens === null && u.outputTokens === null && u.totalTokens === null) return;
      await enforcer.record(subjectOf(start.subject, start.principal), start.model, u, start.id);
    },
  };
}

function subjectOf(subject: string, snap: Record<string, unknown> | null): BudgetSubject {
  const kind = snap?.kind === 'service' || snap?.kind === 'workload' ? snap.kind : 'user';
  const groups = Array.isArray(snap?.groups) ? (snap.groups as unknown[]).filter((g): g is string => typeof g === 'string') : [];
  return { subject, kind, groups };
}
