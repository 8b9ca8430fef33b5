import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.ts';

/**
 * The approval state machine, pure. Every change goes through `canTransition`; the store applies a transition
 * only if the row is still in the expected state (compare-and-set), so two replicas or two approvers racing can
 * never both win.
 *
 *   pending ──▶ approved ──▶ executed          (the approved request ran; a one-request approval is spent)
 *      │            └──────▶ expired           (a window grant ended, or an approval was never used in time)
 *      ├──▶ denied
 *      ├──▶ expired                            (nobody decided before the pending expiry)
 *      └──▶ cancelled                          (the held client went away)
 */
export const APPROVAL_STATES = ['pending', 'approved', 'denied', 'expired', 'cancelled', 'executed'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

const LEGAL: Readonly<Record<ApprovalState, readonly ApprovalState[]>> = {
  pending: ['approved', 'denied', 'expired', 'cancelled'],
  approved: ['executed', 'expired'],
  denied: [],
  expired: [],
  cancelled: [],
  executed: [],
};

export function canTransition(from: ApprovalState, to: ApprovalState): boolean {
  return LEGAL[from].includes(to);
}

/** States from which `to` may be reached (the compare-and-set guard of a store update). */
export function sourcesOf(to: ApprovalState): ApprovalState[] {
  return APPROVAL_STATES.filter((s) => canTransition(s, to));
}

export function isTerminal(s: ApprovalState): boolean {
  return LEGAL[s].length === 0;
}

export interface Vote {
  actor: string;
  /** The approver's groups that are approver groups of the rule (checked when the vote was cast). */
  groups: string[];
  verdict: 'approve' | 'deny';
}

export interface QuorumRule {
  approverGroups: readonly string[];
  quorum: number;
  eachGroup: boolean;
}

/**
 * Outcome of the votes so far: one deny decides (a reviewer who says no is never outvoted); otherwise approved
 * once `quorum` distinct approvers agreed, or — for `each_group` — once every approver group is covered by a
 * distinct approver (a person in two groups counts for one of them only: bipartite matching, tiny sizes).
 */
export function tally(rule: QuorumRule, votes: readonly Vote[]): 'approved' | 'denied' | 'pending' {
  if (votes.some((v) => v.verdict === 'deny')) return 'denied';
  const approvers = new Map<string, string[]>();
  for (const v of votes) if (v.verdict === 'approve') approvers.set(v.actor, v.groups.filter((g) => rule.approverGroups.includes(g)));
  if (!rule.eachGroup) return approvers.size >= rule.quorum ? 'approved' : 'pending';
  return coversEveryGroup(rule.approverGroups, [...approvers.values()]) ? 'approved' : 'pending';
}

function coversEveryGroup(groups: readonly string[], approverGroups: string[][]): boolean {
  const owner = new Map<string, number>();
  const tryAssign = (i: number, seen: Set<string>): boolean => {
    for (const g of approverGroups[i] ?? []) {
      if (seen.has(g)) continue;
      seen.add(g);
      const holder = owner.get(g);
      if (holder === undefined || tryAssign(holder, seen)) {
        owner.set(g, i);
        return true;
      }
    }
    return false;
  };
  approverGroups.forEach((_, i) => tryAssign(i, new Set()));
  return groups.every((g) => owner.has(g));
}

export interface DigestInput {
  endpoint: string;
  body: unknown;
  subject: string;
  policyVersion: string | null;
  ruleId: string;
}

/**
 * What an approval is bound to: SHA-256 over the canonical request (endpoint + body as the client sent it), the
 * requester's subject, the policy version and the rule. Key order and whitespace do not matter; any other change
 * (a word of the prompt, the model, another user, a new policy version) yields another digest.
 */
export function requestDigest(d: DigestInput): string {
  const canonical = canonicalJson({ v: 1, endpoint: d.endpoint, body: d.body, subject: d.subject, policy_version: d.policyVersion, rule: d.ruleId });
  return createHash('sha256').update(canonical).digest('hex');
}
