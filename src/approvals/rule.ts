/**
 * What a policy rule with action `require_approval` says about the approval, and what the decision carries to the
 * approval gate. The policy schema embeds `approvalRuleSchema` as the rule's `approval` object (YAML, snake_case);
 * the engine compiles it once with `compileApprovalRule` and puts the result on the decision as
 * `decision.approval` (camelCase). The gate reads it back with `approvalRequirementOf`, which fails closed: a
 * `require_approval` decision without a well-formed requirement is an evaluation error, never an allow.
 */

export const APPROVAL_MODES = ['hold', 'deferred'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

export const APPROVAL_SCOPES = ['request', 'window'] as const;
export type ApprovalScope = (typeof APPROVAL_SCOPES)[number];

/** The `approval:` object of a policy rule as written in YAML (after ajv filled the defaults). */
export interface ApprovalRuleSpec {
  /** `hold`: the request waits for a decision; `deferred`: refused at once with an approval id, retry once approved. */
  mode: ApprovalMode;
  /** Groups whose members may approve; the requester never approves their own request. */
  approver_groups: string[];
  /** N distinct approvers, or `each_group`: one approver from each of `approver_groups`. */
  quorum: number | 'each_group';
  /** `request`: the approval covers this one request (digest-bound, used once); `window`: a time-window grant. */
  scope: ApprovalScope;
  /** Length of a window grant (scope `window`): this requester x this rule x this model. */
  window_seconds?: number;
  /** A pending approval expires after this long (and a held request gives up then). */
  pending_expiry_seconds: number;
  /** The requester must give a reason (`x-portcullis-justification` header). */
  justification_required: boolean;
  /** Members may skip review with `x-portcullis-break-glass: <reason>`; such exchanges are always flagged. */
  break_glass_groups: string[];
}

/** JSON Schema fragment of `ApprovalRuleSpec`; the policy rule schema embeds it as `approval`. */
export const approvalRuleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['approver_groups'],
  properties: {
    mode: { enum: [...APPROVAL_MODES], default: 'hold', description: 'hold: wait for a reviewer; deferred: refuse now, retry once approved' },
    approver_groups: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', minLength: 1 },
      description: 'groups whose members may approve (never the requester)',
    },
    quorum: {
      oneOf: [
        { type: 'integer', minimum: 1, maximum: 16 },
        { const: 'each_group' },
      ],
      default: 1,
      description: 'number of distinct approvers, or each_group: one approver from each approver group',
    },
    scope: { enum: [...APPROVAL_SCOPES], default: 'request', description: 'request: this one request; window: a time-window grant' },
    window_seconds: { type: 'integer', minimum: 60, maximum: 30 * 86_400, description: 'length of a window grant (scope: window)' },
    pending_expiry_seconds: { type: 'integer', minimum: 10, maximum: 7 * 86_400, default: 900, description: 'a pending approval expires after this long' },
    justification_required: { type: 'boolean', default: false, description: 'the requester must send x-portcullis-justification' },
    break_glass_groups: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'members may skip review with x-portcullis-break-glass; always flagged',
    },
  },
  if: { properties: { scope: { const: 'window' } }, required: ['scope'] },
  then: { required: ['window_seconds'] },
} as const;

/** What a `require_approval` decision carries (`decision.approval`). */
export interface ApprovalRequirement {
  /** The deciding rule's id (approvals, window grants and quorum are per rule). */
  ruleId: string;
  mode: ApprovalMode;
  approverGroups: string[];
  /** Distinct approvers needed (for `each_group`: the number of groups). */
  quorum: number;
  /** One approver from each approver group (quorum `each_group`). */
  eachGroup: boolean;
  scope: ApprovalScope;
  /** Window grant length in ms (scope `window`). */
  windowMs: number | undefined;
  pendingExpiryMs: number;
  justificationRequired: boolean;
  breakGlassGroups: string[];
}

/** Compile a validated rule spec (done once per policy version, not per request). */
export function compileApprovalRule(ruleId: string, spec: ApprovalRuleSpec): ApprovalRequirement {
  if (!ruleId) throw new TypeError('approval rule needs a rule id');
  if (spec.approver_groups.length === 0) throw new TypeError(`rule ${ruleId}: approver_groups is empty`);
  if (spec.scope === 'window' && spec.window_seconds === undefined) throw new TypeError(`rule ${ruleId}: scope window needs window_seconds`);
  const eachGroup = spec.quorum === 'each_group';
  const quorum = eachGroup ? spec.approver_groups.length : Number(spec.quorum);
  if (!Number.isInteger(quorum) || quorum < 1) throw new TypeError(`rule ${ruleId}: invalid quorum`);
  return Object.freeze({
    ruleId,
    mode: spec.mode,
    approverGroups: [...spec.approver_groups],
    quorum,
    eachGroup,
    scope: spec.scope,
    windowMs: spec.scope === 'window' && spec.window_seconds !== undefined ? spec.window_seconds * 1000 : undefined,
    pendingExpiryMs: spec.pending_expiry_seconds * 1000,
    justificationRequired: spec.justification_required,
    breakGlassGroups: [...spec.break_glass_groups],
  });
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0);
}

/**
 * The requirement carried by a decision, checked structurally (it crosses a module boundary as `unknown`).
 * Returns undefined when missing or malformed: the caller must then refuse (fail closed).
 */
export function approvalRequirementOf(decision: { approval?: unknown; [k: string]: unknown }): ApprovalRequirement | undefined {
  const a = decision.approval as Partial<ApprovalRequirement> | undefined;
  if (!a || typeof a !== 'object') return undefined;
  if (typeof a.ruleId !== 'string' || a.ruleId === '') return undefined;
  if (a.mode !== 'hold' && a.mode !== 'deferred') return undefined;
  if (a.scope !== 'request' && a.scope !== 'window') return undefined;
  if (!isStringArray(a.approverGroups) || a.approverGroups.length === 0) return undefined;
  if (!isStringArray(a.breakGlassGroups ?? [])) return undefined;
  if (typeof a.quorum !== 'number' || !Number.isInteger(a.quorum) || a.quorum < 1) return undefined;
  if (a.eachGroup === true && a.quorum !== a.approverGroups.length) return undefined;
  if (typeof a.pendingExpiryMs !== 'number' || !(a.pendingExpiryMs > 0)) return undefined;
  if (a.scope === 'window' && (typeof a.windowMs !== 'number' || !(a.windowMs > 0))) return undefined;
  return {
    ruleId: a.ruleId,
    mode: a.mode,
    approverGroups: a.approverGroups,
    quorum: a.quorum,
    eachGroup: a.eachGroup === true,
    scope: a.scope,
    windowMs: a.scope === 'window' ? a.windowMs : undefined,
    pendingExpiryMs: a.pendingExpiryMs,
    justificationRequired: a.justificationRequired === true,
    breakGlassGroups: a.breakGlassGroups ?? [],
  };
}
