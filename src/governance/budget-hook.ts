import { Ajv } from 'ajv';
import { BUDGETS_SCHEMA, BudgetConfigError, budgetError, compileBudgets, estimateInputTokens, type BudgetEnforcer, type BudgetsSection } from '../policy/budgets/index.ts';
import type { SectionValidator } from '../policy/load.ts';
import type { PolicyHookFactory } from './policy-decider.ts';

const validate = new Ajv({ allErrors: true, strict: false, useDefaults: true }).compile(BUDGETS_SCHEMA);

/** The `budgets:` section validator for the policy loader: schema first, then what only compiling finds. */
export const validateBudgetsSection: SectionValidator = (section) => {
  const copy: unknown = structuredClone(section);
  if (!validate(copy)) return (validate.errors ?? []).map((e) => ({ path: e.instancePath.slice(1).replace(/\//g, '.') || '(section)', message: e.message ?? 'is invalid' }));
  try {
    compileBudgets(copy as BudgetsSection);
    return [];
  } catch (err) {
    if (err instanceof BudgetConfigError) return [{ path: err.path.replace(/^budgets\.?/, '') || '(section)', message: err.message.slice(err.path.length + 2) }];
    throw err;
  }
};

/**
 * Budgets and rate limits as a policy hook: each compiled version installs its limits in the enforcer; per
 * exchange, a request the policy allows (after any approval) is counted and refused with a native 429 and
 * `retry-after` when a limit is reached. Observe mode counts nothing and refuses nothing.
 */
export function budgetPolicyHook(enforcer: BudgetEnforcer): PolicyHookFactory {
  return (engine) => {
    const section = (engine.document as { budgets?: BudgetsSection }).budgets;
    enforcer.update(section === undefined ? undefined : compileBudgets(structuredClone(section)));
    if (section === undefined) return undefined;
    return async ({ ctx, decision }) => {
      // Only what will go out is counted: enforced, and allowed (or approved: the approvals hook lifted the refusal).
      const refused = (decision as { error?: unknown }).error !== undefined || decision.effect === 'deny';
      if (refused || !decision.enforced) return;
      const v = await enforcer.check(ctx.principal, ctx.model, { tokens: estimateInputTokens(ctx.upstreamBody ?? ctx.body) });
      if (!v.ok) throw budgetError(v);
    };
  };
}
