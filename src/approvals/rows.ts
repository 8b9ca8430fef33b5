import type { ApprovalEventRow, ApprovalFilter, ApprovalOutcome, ApprovalRow, VoteRow } from './repo.ts';
import { APPROVAL_STATES, isTerminal } from './state.ts';

/**
 * Row mapping shared by the SQLite and PostgreSQL approval repos: JSON columns arrive as text (SQLite) or parsed
 * (JSONB), booleans as 0/1 or true/false, BLOBs as Uint8Array or Buffer.
 */
type Raw = Record<string, unknown>;

const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : JSON.stringify(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const bool = (v: unknown): boolean => v === true || v === 1 || v === 1n;
const buf = (v: unknown): Buffer | null => (v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : null);

/** Insert order of the `approvals` columns (both engines). */
export const APPROVAL_COLUMNS = [
  'id', 'state', 'rule_id', 'mode', 'scope', 'requester', 'requester_name', 'requester_groups_json', 'endpoint', 'model',
  'policy_version', 'decision_id', 'exchange_id', 'digest', 'approver_groups_json', 'quorum', 'each_group', 'window_ms',
  'justification', 'break_glass', 'findings_json', 'sealed_request', 'created_at', 'updated_at', 'expires_at', 'decided_at',
  'decided_by', 'reason',
] as const;

export function approvalValues(r: ApprovalRow, boolOf: (b: boolean) => unknown): unknown[] {
  return [
    r.id, r.state, r.ruleId, r.mode, r.scope, r.requester, r.requesterName, JSON.stringify(r.requesterGroups), r.endpoint, r.model,
    r.policyVersion, r.decisionId, r.exchangeId, r.digest, JSON.stringify(r.approverGroups), r.quorum, boolOf(r.eachGroup), r.windowMs,
    r.justification, boolOf(r.breakGlass), JSON.stringify(r.findings), r.sealedRequest, r.createdAt, r.updatedAt, r.expiresAt, r.decidedAt,
    r.decidedBy, r.reason,
  ];
}

export function toApprovalRow(r: Raw): ApprovalRow {
  return {
    id: str(r.id), state: str(r.state) as ApprovalRow['state'], ruleId: str(r.rule_id), mode: str(r.mode) as ApprovalRow['mode'],
    scope: str(r.scope) as ApprovalRow['scope'], requester: str(r.requester), requesterName: str(r.requester_name),
    requesterGroups: json<string[]>(r.requester_groups_json), endpoint: str(r.endpoint), model: str(r.model),
    policyVersion: strOrNull(r.policy_version), decisionId: strOrNull(r.decision_id), exchangeId: str(r.exchange_id), digest: str(r.digest),
    approverGroups: json<string[]>(r.approver_groups_json), quorum: Number(r.quorum), eachGroup: bool(r.each_group),
    windowMs: numOrNull(r.window_ms), justification: strOrNull(r.justification), breakGlass: bool(r.break_glass),
    findings: json<Record<string, unknown>[]>(r.findings_json), sealedRequest: buf(r.sealed_request), createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at), expiresAt: Number(r.expires_at), decidedAt: numOrNull(r.decided_at), decidedBy: strOrNull(r.decided_by),
    reason: strOrNull(r.reason),
  };
}

export function toEventRow(r: Raw): ApprovalEventRow {
  return {
    approvalId: str(r.approval_id), seq: Number(r.seq), at: Number(r.at), actor: str(r.actor), action: str(r.action),
    from: strOrNull(r.from_state) as ApprovalEventRow['from'], to: strOrNull(r.to_state) as ApprovalEventRow['to'], reason: strOrNull(r.reason),
  };
}

export function toVoteRow(r: Raw): VoteRow {
  return {
    approvalId: str(r.approval_id), actor: str(r.actor), groups: json<string[]>(r.groups_json), verdict: str(r.verdict) as VoteRow['verdict'],
    reason: strOrNull(r.reason), at: Number(r.at),
  };
}

/** The SQL of the approvals repo with `?` placeholders; PostgreSQL numbers them. Same statements on both engines. */
/**
 * SQL list of the states whose held prompt is no longer needed: decided and done (denied, expired, cancelled,
 * executed). Audit retention removes those prompts with the bodies (`audit.retention.bodies_days`).
 */
export const HELD_PROMPT_DONE_STATES_SQL = APPROVAL_STATES.filter(isTerminal).map((s) => `'${s}'`).join(', ');

export const APPROVAL_SQL = {
  insert: `INSERT INTO approvals (${APPROVAL_COLUMNS.join(', ')}) VALUES (${APPROVAL_COLUMNS.map(() => '?').join(', ')})`,
  insertEvent: 'INSERT INTO approval_events (approval_id, at, actor, action, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?, ?, ?)',
  get: 'SELECT * FROM approvals WHERE id = ?',
  state: 'SELECT state FROM approvals WHERE id = ?',
  byDigest: 'SELECT * FROM approvals WHERE digest = ? AND requester = ? ORDER BY created_at DESC, id DESC LIMIT 20',
  activeGrant: `SELECT * FROM approvals WHERE requester = ? AND rule_id = ? AND model = ? AND scope = 'window' AND state = 'approved'
    AND expires_at > ? ORDER BY expires_at DESC LIMIT 1`,
  insertVote: 'INSERT INTO approval_votes (approval_id, actor, groups_json, verdict, reason, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
  votes: 'SELECT * FROM approval_votes WHERE approval_id = ? ORDER BY at, actor',
  events: 'SELECT * FROM approval_events WHERE approval_id = ? ORDER BY seq',
  dueIds: `SELECT id, state FROM approvals WHERE state IN ('pending', 'approved') AND expires_at <= ? ORDER BY expires_at LIMIT 500`,
} as const;

/** `UPDATE … WHERE id = ? AND state = ?`: the compare-and-set of a transition (after reading the current state). */
export function transitionSql(withExpiry: boolean): string {
  const decided = "decided_at = CASE WHEN ? IN ('approved', 'denied') THEN ? ELSE decided_at END, decided_by = CASE WHEN ? IN ('approved', 'denied') THEN ? ELSE decided_by END";
  return `UPDATE approvals SET state = ?, updated_at = ?, reason = coalesce(?, reason), ${decided}${withExpiry ? ', expires_at = ?' : ''}
    WHERE id = ? AND state = ?`;
}

export function transitionArgs(t: { id: string; to: string; at: number; actor: string; reason: string | null; expiresAt?: number }, current: string): unknown[] {
  return [t.to, t.at, t.reason, t.to, t.at, t.to, t.actor, ...(t.expiresAt === undefined ? [] : [t.expiresAt]), t.id, current];
}

/** The outcome filter of listSql: the same partition as analytics' approvalMeasures. */
const OUTCOME_SQL: Readonly<Record<ApprovalOutcome, string>> = {
  approved: "(state <> 'denied' AND decided_at IS NOT NULL)",
  denied: "state = 'denied'",
  expired: "(state = 'expired' AND decided_at IS NULL)",
  cancelled: "(state = 'cancelled' AND decided_at IS NULL)",
};

export function listSql(f: ApprovalFilter): { sql: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  for (const [col, v] of [['state', f.state], ['requester', f.requester], ['model', f.model]] as const) {
    if (!v) continue;
    where.push(`${col} = ?`);
    args.push(v);
  }
  if (f.outcome) where.push(OUTCOME_SQL[f.outcome]);
  for (const [cond, v] of [['created_at >= ?', f.createdSince], ['created_at < ?', f.createdUntil]] as const) {
    if (v === undefined) continue;
    where.push(cond);
    args.push(v);
  }
  if (f.before) {
    where.push('(created_at < ? OR (created_at = ? AND id < ?))');
    args.push(f.before.createdAt, f.before.createdAt, f.before.id);
  }
  const limit = Math.min(Math.max(Math.trunc(f.limit ?? 50) || 1, 1), 500);
  return { sql: `SELECT * FROM approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ${limit}`, args };
}
