import type { Registry } from 'prom-client';
import type { AdminActivity, AdminRequest } from '../admin/activity.ts';
import type { ApprovalAuditRecord } from '../approvals/service.ts';
import { auditAdminAction, auditAdminRequest, createAuditRuntime, type AuditRuntime } from '../audit/runtime.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { openEventPipeline, type EventPipeline, type SecurityEvent } from '../events/index.ts';
import { openAuditRepo } from '../store/audit-repo.ts';
import { openOutboxRepo } from '../store/outbox-repo.ts';
import type { Store } from '../store/ports.ts';
import { PRODUCT_VERSION } from '../core/version.ts';
import { createPolicyLedger } from '../audit/policy-ledger.ts';
import type { PolicyLedger } from '../policy/versions.ts';

export interface Evidence {
  audit: AuditRuntime;
  events: EventPipeline;
  /** Chains the intent of an admin change before it is made; rejects when it cannot (the change is not made). */
  recordAdminRequest(r: AdminRequest): Promise<void>;
  /** Chains an admin action's outcome and emits its event; rejects when either cannot be recorded (the caller fails closed). */
  recordAdmin(a: AdminActivity): Promise<void>;
  /** The approvals module's `emit`: every transition and refusal is chained and becomes an event. */
  recordApproval(r: ApprovalAuditRecord): void;
  /** Policy activations bound to the trail; a failed integrity check is chained and raised as a security event. */
  policyLedger: PolicyLedger;
  close(): Promise<void>;
}

/**
 * The evidence side of the gateway: the tamper-evident audit trail (docs/audit.md) and the SIEM event pipeline
 * (docs/events.md). The audit observer goes FIRST among the exchange observers: without a chain entry no request
 * goes upstream.
 */
export async function startEvidence(o: {
  config: Config; store: Store; keyring: Keyring; clock: Clock; logger: GatewayLogger; baseDir: string; env: NodeJS.ProcessEnv; registry: Registry;
}): Promise<Evidence> {
  const audit = await createAuditRuntime({
    repo: openAuditRepo(o.store), keyring: o.keyring, clock: o.clock, config: o.config.audit,
    onPurgeError: (err) => o.logger.error({ event: 'audit_retention_failed', error_name: errorName(err) }, 'audit retention run failed'),
  });
  const events = await openEventPipeline({
    outbox: openOutboxRepo(o.store), config: o.config.events, baseDir: o.baseDir, env: o.env, clock: o.clock, logger: o.logger,
    hashKey: o.keyring.key('events').export(), productVersion: PRODUCT_VERSION, registry: o.registry,
  });
  const lost = (what: string) => (err: unknown) => o.logger.error({ event: 'evidence_record_failed', reason: what, error_name: errorName(err) }, 'an evidence record could not be written');
  const policyLedger = createPolicyLedger({
    log: audit.log, repo: audit.repo, keyring: o.keyring,
    onFailure(f) {
      // Ids and a closed-vocabulary problem only: never the policy text.
      audit.log.append({ kind: 'policy.integrity_failed', subject: 'system', refId: f.versionId, payload: { during: f.during, number: f.number, problem: f.problem, version_id: f.versionId } })
        .catch(lost('policy.integrity_failed'));
      events.emit({ type: 'policy.integrity_failed', at: o.clock.now(), actor: { subject: 'system', kind: 'system' }, outcome: 'failure', reason: f.problem, policyVersion: f.versionId, problem: f.problem, during: f.during })
        .catch(lost('policy.integrity_failed'));
    },
  });
  return {
    audit, events, policyLedger,
    recordAdminRequest: (r) => auditAdminRequest(audit.log, { actor: r.actor.subject, action: r.action, target: r.target, requestId: r.requestId }),
    async recordAdmin(a) {
      const c = a.change;
      await auditAdminAction(audit.log, {
        actor: a.actor.subject, action: a.action, target: a.target, details: c?.outcome === 'failure' ? { status: c.status } : a.facts,
        ...(c ? { requestId: c.requestId, outcome: c.outcome } : {}),
      });
      if (!a.ownEvents) await events.emit(adminEvent(a, o.clock.now()));
    },
    recordApproval(r) {
      // The approval's state and its transition rows are already in the store; these are the trail and the SIEM copy.
      audit.log.append(r).catch(lost(r.kind));
      events.emit(approvalEvent(r, o.clock.now())).catch(lost(r.kind));
    },
    async close() {
      // Never rejects: the gateway's shutdown must still close the providers and the store after this (an open
      // store keeps the process alive). A final checkpoint that cannot be signed is logged; the next start, or
      // another replica, seals the head.
      const failed = (what: string) => (err: unknown) => o.logger.error({ event: 'evidence_close_failed', reason: what, error_name: errorName(err) }, 'evidence could not be closed cleanly');
      await events.close().catch(failed('events'));
      await audit.close().catch(failed('audit'));
    },
  };
}

function adminEvent(a: AdminActivity, at: number): SecurityEvent {
  const actor = { subject: a.actor.subject, kind: a.actor.kind, groups: a.actor.groups, sourceIp: a.sourceIp };
  const target = a.target ?? '';
  if (a.change?.outcome === 'failure') {
    return {
      type: 'admin.action', at, actor, operation: a.action, outcome: 'failure', reason: `http_${a.change.status}`,
      ...(a.target ? { target: { type: a.action.split('.')[0]!, id: a.target } } : {}),
    };
  }
  switch (a.action) {
    case 'keys.create':
      return { type: 'account.changed', at, actor, account: { subject: String(a.facts.subject ?? ''), kind: String(a.facts.kind ?? 'user'), credentialId: target }, change: 'key_created' };
    case 'keys.revoke':
      return { type: 'account.changed', at, actor, account: { subject: `key:${target}`, credentialId: target }, change: 'key_revoked' };
    case 'credentials.set':
      return { type: 'credential.changed', at, actor, provider: target, change: 'set' };
    case 'policy.push':
      return { type: 'policy.pushed', at, actor, policyVersion: target };
    case 'policy.activate':
    case 'policy.rollback':
      return { type: 'policy.activated', at, actor, policyVersion: target, mode: a.facts.mode === 'observe' ? 'observe' : 'enforce' };
    default:
      return { type: 'admin.action', at, actor, operation: a.action, ...(a.target ? { target: { type: a.action.split('.')[0]!, id: a.target } } : {}) };
  }
}

const DECIDED = new Set(['approved', 'denied', 'expired', 'cancelled']);

/** The SIEM copy of an approval transition (exported for its id contract: docs/events.md "Stable ids"). */
export function approvalEvent(r: ApprovalAuditRecord, at: number): SecurityEvent {
  const p = r.payload;
  const actor = { subject: r.subject ?? 'system' };
  const requester = String(p.requester ?? '');
  const state = r.kind.slice('approval.'.length);
  if (state === 'requested') {
    return {
      id: `approval.requested:${r.refId}`, type: 'approval.requested', at, actor, approvalId: r.refId, requester,
      exchangeId: typeof p.exchange_id === 'string' ? p.exchange_id : undefined, ruleIds: typeof p.rule_id === 'string' ? [p.rule_id] : undefined,
    };
  }
  if (DECIDED.has(state)) {
    return {
      // One id per fact, `approval.<decision>:<id>`: an approval approved and later expired unused has two
      // decided events, and a SIEM (and the outbox) de-duplicating on `approval.decided:<id>` would drop the second.
      id: `approval.${state}:${r.refId}`, type: 'approval.decided', at, actor, approvalId: r.refId, requester,
      decision: state as 'approved' | 'denied' | 'expired' | 'cancelled', scope: p.scope === 'window' ? 'window' : 'request',
      // What a SIEM needs to know how long an approved window lets the requester through.
      windowEndsAt: state === 'approved' && p.scope === 'window' && typeof p.expires_at === 'number' ? p.expires_at : undefined,
    };
  }
  // Votes, refusals (self-approval, outsider, reuse, digest mismatch …) and execution.
  const refused = state === 'refused';
  return {
    type: 'admin.action', at, actor, operation: r.kind, target: { type: 'approval', id: r.refId },
    ...(refused ? { outcome: 'failure' as const, reason: typeof p.refused === 'string' ? p.refused : 'refused' } : {}),
  };
}
