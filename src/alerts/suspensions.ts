import { GatewayError } from '../core/errors.ts';
import type { Principal } from '../core/principal.ts';
import type { ApprovalRequirement } from '../approvals/rule.ts';
import type { AlertRepo, Suspension } from './types.ts';

/** How long an approval asked for by an alert response stays pending (as a policy rule's default). */
const PENDING_EXPIRY_MS = 900_000;

export interface Suspensions {
  /** Throws `identity_suspended` for a suspended caller, whichever of its keys or tokens it used. No I/O. */
  admit(principal: Principal): void;
  /**
   * The approval every request of this identity needs (an alert rule with `respond: require_approval` fired), or
   * undefined. Built at refresh, not per request. No I/O.
   */
  approvalFor(subject: string): ApprovalRequirement | undefined;
  /** Re-reads the list now (after this replica suspended or lifted). */
  refresh(): Promise<void>;
  list(): readonly Suspension[];
  stop(): void;
}

/**
 * The identities an alert rule suspended (docs/alerts.md#automatic-response-suspension-or-approval), kept in memory and re-read every
 * `suspension_refresh_ms`, so the check on each request costs a map lookup. The suspension is per identity, not
 * per credential: the suspended caller's other keys, minted tokens and IdP tokens are refused alike. A refresh that
 * fails keeps the last list (logged by the caller): nobody suspended is let through because the store blinked.
 */
export function startSuspensions(o: { repo: AlertRepo; refreshMs: number; onError(err: unknown): void }): Suspensions {
  let current = new Map<string, Suspension>();
  let approvals = new Map<string, ApprovalRequirement>();
  let inflight: Promise<void> | undefined;
  let again: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    if (!inflight) {
      inflight = o.repo.suspensions().then((rows) => {
        current = new Map(rows.map((s) => [s.identity, s]));
        approvals = new Map(rows.filter((s) => s.mode === 'require_approval').map((s) => [s.identity, requirementOf(s)]));
      }).finally(() => (inflight = undefined));
      return inflight;
    }
    // A read already under way may have started before the caller's change (a lift, a new suspension) committed:
    // joining it would hand back the old list, so read once more after it (callers meanwhile share that read).
    again ??= inflight.catch(() => undefined).then(() => {
      again = undefined;
      return refresh();
    });
    return again;
  };
  const timer = setInterval(() => void refresh().catch((err: unknown) => o.onError(err)), o.refreshMs);
  timer.unref();
  return {
    admit(principal) {
      const s = current.get(principal.subject);
      if (!s || s.mode === 'require_approval') return;
      throw new GatewayError('identity_suspended', 'This identity is suspended by an alert rule until an administrator lifts the suspension; every key and token of it is refused.', {
        details: { reason: 'suspended', ...(s.investigationId ? { investigation: s.investigationId } : {}) },
      });
    },
    approvalFor: (subject) => approvals.get(subject),
    refresh,
    list: () => [...current.values()],
    stop: () => clearInterval(timer),
  };
}

/**
 * The terms of the approval an alert response asks for: a reviewer from `approvers` (never the requester) approves
 * this one request (digest-bound, used once), the caller waiting as under a policy rule in `hold` mode. The rule id
 * names the investigation, so approvers see why and a new firing does not reuse an old approval. A row without
 * approver groups (it cannot be approved) is refused as a suspension would be, by the approvals gate.
 */
function requirementOf(s: Suspension): ApprovalRequirement {
  return Object.freeze({
    ruleId: `alert:${s.investigationId ?? s.identity}`, mode: 'hold', approverGroups: s.approvers, quorum: 1, eachGroup: false, scope: 'request',
    windowMs: undefined, pendingExpiryMs: PENDING_EXPIRY_MS, justificationRequired: false, breakGlassGroups: [],
  });
}
