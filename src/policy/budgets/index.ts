/**
 * Budgets and rate limits (policy section `budgets:`; docs/budgets.md).
 *
 * Interface for the policy decider and the composition root:
 *   - `BUDGETS_SCHEMA` / `BudgetsSection`: the section's JSON Schema fragment and type.
 *   - `compileBudgets(section)` once per policy version (throws BudgetConfigError naming the key), then
 *     `enforcer.update(compiled)` on activation.
 *   - per request, in the decider after access rules allowed it:
 *       const v = await enforcer.check(ctx.principal, ctx.model, { tokens: estimateInputTokens(ctx.body) });
 *       if (!v.ok) throw budgetError(v);   // 429 rate_limited + retry-after, in the caller's protocol
 *     (`check` throws GatewayError `evaluation_error` when counters are unavailable: fail closed.)
 *   - after the exchange: `createUsageObserver(enforcer)` as an ExchangeObserver records real tokens and spend.
 *   - counters: `new MemoryBudgetCounters()` on one node, or the store's (`budgetCountersFor(store)` in
 *     src/store/budget-counters.ts) when replicas share PostgreSQL.
 */
export { BUDGETS_SCHEMA, BUDGET_METRICS, type BudgetLimitSpec, type BudgetMatch, type BudgetMetric, type BudgetPer, type BudgetPriceSpec, type BudgetsSection } from './schema.ts';
export { compileBudgets, BudgetConfigError, MCP_MODEL_PREFIX, type BudgetSubject, type CompiledBudgets, type CompiledLimit } from './compile.ts';
export { MemoryBudgetCounters, type BudgetCounterRepo, type CounterIncrement, type CounterKey, type CounterRow } from './counters.ts';
export { BudgetEnforcer, budgetError, type BudgetEstimate, type BudgetUsage, type BudgetVerdict, type UsageRow } from './enforcer.ts';
export { estimateInputTokens } from './estimate.ts';
export { createUsageObserver } from './usage-observer.ts';
