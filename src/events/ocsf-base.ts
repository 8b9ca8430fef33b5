/**
 * The OCSF base event (https://schema.ocsf.io, schema 1.3.0): every Portcullis event is one OCSF event with
 * `type_uid = class_uid * 100 + activity_id` and the Portcullis-specific fields under `unmapped.portcullis`.
 */
export const OCSF_VERSION = '1.3.0';

export const CATEGORY = { findings: { uid: 2, name: 'Findings' }, iam: { uid: 3, name: 'Identity & Access Management' }, application: { uid: 6, name: 'Application Activity' } } as const;

export const CLASS = {
  incidentFinding: { uid: 2005, name: 'Incident Finding', category: CATEGORY.findings },
  accountChange: { uid: 3001, name: 'Account Change', category: CATEGORY.iam },
  authentication: { uid: 3002, name: 'Authentication', category: CATEGORY.iam },
  entityManagement: { uid: 3004, name: 'Entity Management', category: CATEGORY.iam },
  apiActivity: { uid: 6003, name: 'API Activity', category: CATEGORY.application },
} as const;
export type OcsfClass = (typeof CLASS)[keyof typeof CLASS];

export const SEVERITY = { informational: 1, low: 2, medium: 3, high: 4, critical: 5 } as const;
const SEVERITY_NAMES: Record<number, string> = { 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical' };
export type Severity = (typeof SEVERITY)[keyof typeof SEVERITY];

/** OCSF status_id: 1 Success, 2 Failure, 99 Other. */
export type Status = 'success' | 'failure' | 'other';
const STATUS: Record<Status, [number, string]> = { success: [1, 'Success'], failure: [2, 'Failure'], other: [99, 'Other'] };

export interface ProductInfo {
  name: string;
  vendor_name: string;
  version: string;
}

export type OcsfEvent = Record<string, unknown> & {
  class_uid: number;
  type_uid: number;
  time: number;
  metadata: { uid: string; version: string; product: ProductInfo; event_code: string; [k: string]: unknown };
};

export interface BaseInput {
  uid: string;
  /** Portcullis event type (`exchange.completed`, `auth.login.failed`, …): OCSF `metadata.event_code`. */
  code: string;
  time: number;
  cls: OcsfClass;
  activity: [id: number, name: string];
  severity: Severity;
  status: Status;
  statusDetail?: string;
  message: string;
  product: ProductInfo;
  correlationUid?: string;
}

export function baseEvent(b: BaseInput, fields: Record<string, unknown>): OcsfEvent {
  const [activityId, activityName] = b.activity;
  const [statusId, statusName] = STATUS[b.status];
  return prune({
    category_uid: b.cls.category.uid,
    category_name: b.cls.category.name,
    class_uid: b.cls.uid,
    class_name: b.cls.name,
    activity_id: activityId,
    activity_name: activityName,
    type_uid: b.cls.uid * 100 + activityId,
    type_name: `${b.cls.name}: ${activityName}`,
    severity_id: b.severity,
    severity: SEVERITY_NAMES[b.severity],
    status_id: statusId,
    status: statusName,
    status_detail: b.statusDetail,
    time: b.time,
    message: b.message,
    metadata: { uid: b.uid, version: OCSF_VERSION, product: b.product, event_code: b.code, correlation_uid: b.correlationUid, log_name: 'portcullis' },
    ...fields,
  }) as OcsfEvent;
}

/** OCSF User object from sanitized parts. */
export function user(u: { uid?: string; name?: string; type?: string; groups?: readonly string[]; credentialUid?: string }): Record<string, unknown> | undefined {
  if (u.uid === undefined) return undefined;
  return {
    uid: u.uid,
    name: u.name ?? u.uid,
    type: u.type,
    groups: u.groups && u.groups.length > 0 ? u.groups.map((name) => ({ name })) : undefined,
    credential_uid: u.credentialUid,
  };
}

/** Drops undefined values and empty objects recursively so events serialize compactly and stably. */
function prune(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
      const inner = prune(x as Record<string, unknown>);
      if (Object.keys(inner).length > 0) out[k] = inner;
    } else out[k] = x;
  }
  return out;
}
