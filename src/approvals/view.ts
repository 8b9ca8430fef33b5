import type { Principal } from '../core/principal.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { ApprovalEventRow, ApprovalRow, VoteRow } from './repo.ts';
import { approvalAad } from './service.ts';

/** Who may read the held prompt: members of the approval's approver groups and admins; never anyone else. */
export function mayReadRequest(row: ApprovalRow, viewer: Principal): boolean {
  return viewer.roles.includes('admin') || row.approverGroups.some((g) => viewer.groups.includes(g));
}

/** Who may see an approval at all: its requester, its approvers, admins and auditors. */
export function maySee(row: ApprovalRow, viewer: Principal): boolean {
  return viewer.subject === row.requester || viewer.roles.includes('auditor') || mayReadRequest(row, viewer);
}

type Json = Record<string, unknown> | unknown[];

function pathSegments(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

/**
 * Masks every finding in a copy of the request: the matched span becomes `[TYPE]`. Findings carry a path and
 * UTF-16 offsets (src/core/findings.ts), never the value. If one cannot be located the whole request is
 * withheld — showing an unmasked value by mistake is worse than showing nothing.
 */
export function maskedRequest(body: unknown, findings: readonly Record<string, unknown>[]): { request: unknown; withheld: boolean } {
  const copy = structuredClone(body) as Json;
  const byPath = new Map<string, { start: number; end: number; type: string }[]>();
  for (const f of findings) {
    if (typeof f.path !== 'string' || typeof f.start !== 'number' || typeof f.end !== 'number') return { request: null, withheld: true };
    const list = byPath.get(f.path) ?? [];
    list.push({ start: f.start, end: f.end, type: typeof f.type === 'string' ? f.type : 'FINDING' });
    byPath.set(f.path, list);
  }
  for (const [path, spans] of byPath) {
    const segs = pathSegments(path);
    const last = segs.pop();
    let parent: unknown = copy;
    for (const s of segs) parent = parent === null || typeof parent !== 'object' ? undefined : (parent as Record<string | number, unknown>)[s];
    const holder = parent as Record<string | number, unknown> | undefined;
    const text = last === undefined || holder === undefined || holder === null || typeof holder !== 'object' ? undefined : holder[last];
    if (typeof text !== 'string' || last === undefined || !holder) return { request: null, withheld: true };
    let out = text;
    for (const sp of [...spans].sort((a, b) => b.start - a.start)) {
      if (sp.start < 0 || sp.end > text.length || sp.start > sp.end) return { request: null, withheld: true };
      out = `${out.slice(0, sp.start)}[${sp.type}]${out.slice(sp.end)}`;
    }
    holder[last] = out;
  }
  return { request: copy, withheld: false };
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The API/CLI view of an approval. The prompt (masked) only for those who may read it and only when asked. */
export function approvalView(
  row: ApprovalRow,
  viewer: Principal,
  o: { keyring?: Keyring; votes?: VoteRow[]; events?: ApprovalEventRow[]; link?: string },
): Record<string, unknown> {
  const v: Record<string, unknown> = {
    id: row.id, state: row.state, rule_id: row.ruleId, mode: row.mode, scope: row.scope, requester: row.requester, requester_name: row.requesterName,
    requester_groups: row.requesterGroups, endpoint: row.endpoint, model: row.model, policy_version: row.policyVersion, decision_id: row.decisionId,
    exchange_id: row.exchangeId, approver_groups: row.approverGroups, quorum: row.eachGroup ? 'each_group' : row.quorum,
    window_seconds: row.windowMs === null ? null : row.windowMs / 1000, justification: row.justification, break_glass: row.breakGlass,
    created_at: iso(row.createdAt), expires_at: iso(row.expiresAt), decided_at: iso(row.decidedAt), decided_by: row.decidedBy, reason: row.reason,
    findings: row.findings.map((f) => ({ type: f.type, path: f.path, action: f.action })),
    link: o.link,
  };
  if (o.votes) v.votes = o.votes.map((x) => ({ actor: x.actor, verdict: x.verdict, groups: x.groups, reason: x.reason, at: iso(x.at) }));
  if (o.events) v.history = o.events.map((e) => ({ at: iso(e.at), actor: e.actor, action: e.action, from: e.from, to: e.to, reason: e.reason }));
  if (o.keyring && mayReadRequest(row, viewer)) {
    if (row.sealedRequest) {
      const body: unknown = JSON.parse(o.keyring.open('approvals', row.sealedRequest, approvalAad(row.id)).toString('utf8'));
      const m = maskedRequest(body, row.findings);
      v.request = m.request;
      if (m.withheld) v.request_withheld = 'findings could not be located; the prompt is not shown';
    } else v.request_withheld = 'removed by audit retention (audit.retention.bodies_days)';
  }
  return v;
}
