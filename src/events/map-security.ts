import type { MapContext } from './map-exchange.ts';
import { CLASS, SEVERITY, baseEvent, user, type OcsfClass, type OcsfEvent, type Severity } from './ocsf-base.ts';
import { safeIdent, safeIp, safeName, safeNames, type FieldHasher } from '../core/sanitize.ts';
import type { SecurityActor, SecurityEvent } from './types.ts';

/**
 * Security-relevant actions → OCSF. Admin API calls are API Activity (6003); policy versions, provider credentials
 * and approvals are Entity Management (3004: 1 Create, 3 Update, 4 Delete, 10 Activate); changes to accounts and
 * their keys are Account Change (3001: 1 Create, 2 Enable, 5 Disable, 6 Delete, 99 Other).
 */
interface Shape {
  cls: OcsfClass;
  activity: [number, string];
  severity: Severity;
  fields: Record<string, unknown>;
}

const ACCOUNT_ACTIVITY: Record<Extract<SecurityEvent, { type: 'account.changed' }>['change'], [number, string]> = {
  created: [1, 'Create'], enabled: [2, 'Enable'], disabled: [5, 'Disable'], deleted: [6, 'Delete'],
  groups_changed: [99, 'Groups Changed'], key_created: [99, 'Key Created'], key_revoked: [99, 'Key Revoked'],
};

function adminActivity(operation: string): [number, string] {
  const verb = operation.split(/[._:]/).pop() ?? '';
  if (/^(create|add|mint|push)/.test(verb)) return [1, 'Create'];
  if (/^(get|list|read|view|show|export)/.test(verb)) return [2, 'Read'];
  if (/^(update|set|put|patch|activate|rotate)/.test(verb)) return [3, 'Update'];
  if (/^(delete|remove|revoke|purge)/.test(verb)) return [4, 'Delete'];
  return [99, 'Other'];
}

function entity(type: string, uid: string | undefined, name?: string): Record<string, unknown> {
  return { entity: { type, uid, name } };
}

function shape(e: SecurityEvent, h: FieldHasher): Shape {
  switch (e.type) {
    case 'admin.action':
      return {
        cls: CLASS.apiActivity, activity: adminActivity(e.operation), severity: SEVERITY.low,
        fields: {
          api: { operation: safeIdent(e.operation, h), service: { name: 'portcullis-admin' } },
          resources: e.target ? [{ type: safeIdent(e.target.type, h), uid: safeName(e.target.id, h) }] : undefined,
        },
      };
    case 'policy.pushed':
      return { cls: CLASS.entityManagement, activity: [1, 'Create'], severity: SEVERITY.low, fields: entity('policy', safeName(e.policyVersion, h), safeName(e.policyName, h)) };
    case 'policy.activated':
      return {
        cls: CLASS.entityManagement, activity: [10, 'Activate'], severity: SEVERITY.medium,
        fields: { ...entity('policy', safeName(e.policyVersion, h), safeName(e.policyName, h)), unmapped: { portcullis: { previous_version: safeName(e.previousVersion, h), mode: e.mode } } },
      };
    case 'policy.integrity_failed':
      // A stored version no longer matches what was pushed or activated: someone wrote to the database behind the
      // gateway's back. Critical: the gateway refuses every request until a valid version is activated.
      return {
        cls: CLASS.entityManagement, activity: [99, 'Integrity Check'], severity: SEVERITY.critical,
        fields: { ...entity('policy', safeName(e.policyVersion, h)), unmapped: { portcullis: { problem: safeIdent(e.problem, h), during: e.during } } },
      };
    case 'credential.changed':
      return {
        cls: CLASS.entityManagement, activity: e.change === 'deleted' ? [4, 'Delete'] : [3, 'Update'], severity: SEVERITY.medium,
        fields: { ...entity('provider_credential', safeName(e.provider, h), safeName(e.provider, h)), unmapped: { portcullis: { change: e.change } } },
      };
    case 'credential.refused':
      return {
        cls: CLASS.entityManagement, activity: [99, 'Refused'], severity: SEVERITY.high,
        fields: { ...entity('provider_credential', safeName(e.provider, h), safeName(e.provider, h)), unmapped: { portcullis: { upstream_status: e.upstreamStatus } } },
      };
    case 'approval.requested':
      return {
        cls: CLASS.entityManagement, activity: [1, 'Create'], severity: SEVERITY.low,
        fields: {
          ...entity('approval', safeName(e.approvalId, h)),
          unmapped: { portcullis: { exchange_id: safeName(e.exchangeId, h), requester: safeName(e.requester, h), rule_ids: safeNames(e.ruleIds, h), approver_groups: safeNames(e.approverGroups, h) } },
        },
      };
    case 'approval.decided':
      return {
        cls: CLASS.entityManagement, activity: [3, 'Update'], severity: SEVERITY.low,
        fields: {
          ...entity('approval', safeName(e.approvalId, h)),
          // OCSF disposition: 8 Approved, 2 Blocked.
          disposition_id: e.decision === 'approved' ? 8 : 2,
          disposition: e.decision === 'approved' ? 'Approved' : 'Blocked',
          unmapped: { portcullis: { decision: e.decision, requester: safeName(e.requester, h), scope: e.scope, window_ends_at: e.windowEndsAt } },
        },
      };
    case 'alert.fired':
      // OCSF Incident Finding (2005), 1 Create, status 1 New: the investigation the console opens, with the
      // triggering exchanges as related events (their `exchange.*` events carry the same ids as metadata.uid).
      return {
        cls: CLASS.incidentFinding, activity: [1, 'Create'], severity: ALERT_SEVERITY[e.severity],
        fields: {
          finding_info_list: [{
            uid: safeName(e.investigationId, h), title: safeText(e.summary), types: [safeIdent(e.ruleKind, h)],
            analytic: { uid: safeName(e.ruleId, h), name: safeName(e.ruleId, h), type_id: 1, type: 'Rule' },
            related_events: e.exchangeIds.slice(0, 20).map((id) => ({ uid: safeName(id, h) })),
          }],
          status_id: 1, status: 'New', priority_id: ALERT_SEVERITY[e.severity] - 1,
          unmapped: { portcullis: { investigation_id: safeName(e.investigationId, h), rule_id: safeName(e.ruleId, h), subject: safeName(e.subject, h), identity: safeName(e.identity ?? undefined, h), response: e.response, exchange_count: e.exchangeIds.length } },
        },
      };
    case 'account.changed':
      return {
        cls: CLASS.accountChange, activity: ACCOUNT_ACTIVITY[e.change], severity: SEVERITY.low,
        fields: {
          user: user({ uid: safeName(e.account.subject, h), type: safeName(e.account.kind, h), credentialUid: safeName(e.account.credentialId, h) }),
          unmapped: { portcullis: { change: e.change } },
        },
      };
  }
}

const ALERT_SEVERITY: Record<Extract<SecurityEvent, { type: 'alert.fired' }>['severity'], Severity> = { low: SEVERITY.low, medium: SEVERITY.medium, high: SEVERITY.high, critical: SEVERITY.critical };

/** A summary the gateway wrote from rule ids and subjects: control characters dropped, bounded. */
const safeText = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, 300);

function actorOf(a: SecurityActor, h: FieldHasher): Record<string, unknown> {
  return { user: user({ uid: safeName(a.subject, h), type: a.kind, groups: safeNames(a.groups, h), credentialUid: safeName(a.credentialId, h) }) };
}

export function mapSecurity(e: SecurityEvent, uid: string, c: MapContext): OcsfEvent {
  const h = c.hasher;
  const s = shape(e, h);
  const failed = e.outcome === 'failure';
  return baseEvent(
    {
      uid, code: e.type, time: e.at, cls: s.cls, activity: s.activity, severity: failed ? Math.max(s.severity, SEVERITY.medium) as Severity : s.severity,
      status: failed ? 'failure' : 'success', statusDetail: safeIdent(e.reason, h), product: c.product, message: e.type,
    },
    { ...s.fields, actor: actorOf(e.actor, h), src_endpoint: e.actor.sourceIp ? { ip: safeIp(e.actor.sourceIp) } : undefined },
  );
}
