import { approvalRequirements } from '../approvals/policy-hook.ts';
import type { LoadOptions, RuleCheck } from '../policy/load.ts';
import { validateContentSection } from '../detect/policy-content.ts';
import { validateBudgetsSection } from './budget-hook.ts';

/**
 * A `require_approval` rule's `approval:` options are checked when the policy is validated or pushed, not first
 * when a request needs them (where a bad one could only refuse with `evaluation_error`).
 */
export const checkApprovalOptions: RuleCheck = (rule) => {
  if (rule.effect !== 'require_approval') return [];
  const problem = approvalRequirements({ document: { rules: [rule] } }).get(rule.id);
  return typeof problem === 'string' ? [{ path: 'approval', message: problem }] : [];
};

/**
 * Every check a policy gets at push, for `portcullis policy validate` on a laptop or in CI (no gateway): the
 * detection and budgets sections and the approval options. Only the gateway knows whether it has an external
 * recognizer, so that one check happens at push.
 */
export const LOCAL_POLICY_CHECKS: Pick<LoadOptions, 'sections' | 'ruleChecks'> = {
  sections: { content: (section) => validateContentSection(section), budgets: validateBudgetsSection },
  ruleChecks: [checkApprovalOptions],
};
