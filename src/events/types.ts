/**
 * Inputs of the events module. Exchanges arrive through the ExchangeObserver seam and authentication through the
 * identity module's IdentityEvent; everything else security-relevant (admin actions, policy versions, provider
 * credentials, approvals, accounts) is a SecurityEvent that the owning module hands to `pipeline.emit`.
 * None of them carries content or a secret: ids, names, closed-vocabulary codes and counts only.
 */
export interface SecurityActor {
  /** Principal subject of who did it (`user:alice@example.com`, `system` for the gateway itself). */
  subject: string;
  kind?: 'user' | 'service' | 'workload' | 'system';
  groups?: readonly string[];
  /** Id of the credential used (key id, session id) — never the secret. */
  credentialId?: string;
  sourceIp?: string;
}

interface SecurityEventBase {
  /**
   * Stable id for de-duplication (becomes OCSF `metadata.uid`). Give one when the same fact may be emitted twice
   * (e.g. retried after a crash), such as `approval.approved:<approval id>` (one id per fact, never per event type); otherwise a fresh id is generated.
   */
  id?: string;
  /** Epoch ms. */
  at: number;
  actor: SecurityActor;
  outcome?: 'success' | 'failure';
  /** Closed-vocabulary reason of a failure (`forbidden`, `not_found`, `invalid`, …). */
  reason?: string;
}

export type SecurityEvent = SecurityEventBase & (
  | { type: 'admin.action'; operation: string; target?: { type: string; id: string } }
  | { type: 'policy.pushed'; policyVersion: string; policyName?: string }
  | { type: 'policy.activated'; policyVersion: string; previousVersion?: string | null; policyName?: string; mode?: 'enforce' | 'observe' }
  | { type: 'policy.integrity_failed'; policyVersion: string; problem: string; during: 'load' | 'activate' }
  | { type: 'credential.changed'; provider: string; change: 'set' | 'deleted' | 'rotated' }
  /** A provider answered 401/403 to the gateway's own provider credential (revoked, wrong or under-privileged key). */
  | { type: 'credential.refused'; provider: string; upstreamStatus: number }
  | { type: 'approval.requested'; approvalId: string; exchangeId?: string; requester: string; ruleIds?: readonly string[]; approverGroups?: readonly string[] }
  | { type: 'approval.decided'; approvalId: string; requester: string; decision: 'approved' | 'denied' | 'expired' | 'cancelled'; scope?: 'request' | 'window'; windowEndsAt?: number }
  /** An alert rule fired and opened an investigation (docs/alerts.md); one per investigation: id `alert.fired:<investigation id>`. */
  | {
    type: 'alert.fired'; investigationId: string; ruleId: string; ruleKind: string; severity: 'low' | 'medium' | 'high' | 'critical';
    subject: string; identity?: string | null; summary: string; exchangeIds: readonly string[]; response: 'none' | 'suspend' | 'require_approval';
  }
  | { type: 'account.changed'; account: { subject: string; kind?: string; credentialId?: string }; change: 'created' | 'enabled' | 'disabled' | 'deleted' | 'groups_changed' | 'key_created' | 'key_revoked' }
);

export type SecurityEventType = SecurityEvent['type'];
