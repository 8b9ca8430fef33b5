/**
 * The closed vocabulary of decision reasons (like pomerium's criteria reasons): records, explanations, the
 * simulation report and the refusal messages all use these codes and nothing else.
 */
export const REASON_CODES = [
  'allowed_by_rule',
  'denied_by_rule',
  'approval_required_by_rule',
  'no_matching_rule',
  'default_allow',
  'feature_not_allowed',
  'sensitivity_not_allowed',
  'sensitivity_rerouted',
  'sensitivity_label_invalid',
  'evaluation_error',
  'observe_mode',
  'policy_unavailable',
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

export interface Reason {
  code: ReasonCode;
  ruleId?: string;
  /** A short, content-free detail: a feature name, a level, a model name — never a prompt value. */
  detail?: string;
}
