import type { Finding } from '../../core/findings.ts';
import type { ReasonCode } from '../../policy/reasons.ts';
import type { DecisionRecord } from '../../proxy/context.ts';
import type { ExchangeRow } from '../../store/ports.ts';

/** One sentence per closed-vocabulary reason (src/policy/reasons.ts); `detail` is content-free by construction. */
const SENTENCES: Record<ReasonCode, (rule: string, detail: string) => string> = {
  allowed_by_rule: (r) => `rule ${r} allows it`,
  denied_by_rule: (r) => `rule ${r} denies it`,
  approval_required_by_rule: (r) => `rule ${r} requires a human approval`,
  no_matching_rule: () => 'no rule grants it (default deny)',
  default_allow: () => 'no rule matched; the policy allows by default',
  feature_not_allowed: (r, d) => `rule ${r} would allow it, but not with ${d || 'a feature it uses'}`,
  sensitivity_not_allowed: (r, d) => `the content's sensitivity may not go to this model${r ? ` (rule ${r})` : ''}${d ? `: ${d}` : ''}`,
  sensitivity_rerouted: (_r, d) => `rerouted because of its sensitivity${d ? `: ${d}` : ''}`,
  sensitivity_label_invalid: (_r, d) => `the client's sensitivity label is not one of ${d || 'the levels'}`,
  evaluation_error: (r) => `the policy could not be evaluated${r ? ` (rule ${r})` : ''}: refused (fail closed)`,
  observe_mode: () => 'the version runs in observe mode: recorded, not enforced',
  policy_unavailable: () => 'the active policy version could not be compiled: refused (fail closed)',
};

/** Reasons outside the policy vocabulary that records carry (no policy configured at all). */
const OTHER_SENTENCES: Record<string, string> = { no_policy_configured: 'no policy is configured: every authenticated caller may use it' };

/** What stopped an MCP request that the rules let through (the record's error code); content-free. */
const MCP_REFUSALS: Record<string, string> = {
  tool_quarantined: "the tool's definition differs from its pin, or the tool is new: quarantined until an approver accepts the catalogue",
  content_blocked: 'a detector finding with action block was in the arguments or the result',
  rate_limited: 'a per-tool budget (budgets.limits[].match.mcp_tools) was used up',
  approval_denied: 'the approvers denied the call',
  approval_expired: 'nobody decided the approval in time',
  approval_required: 'only tool calls can be held for approval; this method was refused',
  policy_unavailable: 'the call could not be evaluated or the token vault could not be written: refused (fail closed)',
  recording_failed: 'the call could not be recorded, so it was not forwarded (fail closed)',
};

/** The MCP request an `mcp.*` record is: server, method, tool or resource, definition hash, and what refused it. */
function explainMcp(r: ExchangeRow, d: Record<string, unknown> | null): string[] {
  const server = r.provider?.startsWith('mcp:') ? r.provider.slice(4) : '?';
  const method = r.endpoint.slice(4).replace(/_/g, '/');
  const out = [`MCP ${method} on server "${server}"${r.model ? `, tool "${r.model}"` : ''}${typeof d?.toolHash === 'string' ? ` (definition sha256:${d.toolHash.slice(0, 16)}…)` : ''}`];
  if (r.status === 'rejected' && r.errorCode && r.errorCode !== 'denied_by_policy') out.push(`refused: ${MCP_REFUSALS[r.errorCode] ?? r.errorCode}  [${r.errorCode}]`);
  return out;
}

/**
 * `portcullis exchanges explain ID`: why an exchange was allowed, refused, rerouted or held, for a human — from
 * the decision recorded with it (never the content: findings are listed by type, place and action only).
 */
export function explainExchange(r: ExchangeRow): string[] {
  const d = r.decision as unknown as (DecisionRecord & { route?: { level: string; from: string; to: string; applied: boolean }; template?: { id: string; version: number }; approval?: { ruleId?: string; mode?: string } }) | null;
  const out = [`exchange ${r.id}  ${new Date(r.startedAt).toISOString()}  ${r.subject ?? '-'}  ${r.endpoint}  ${r.model ?? '-'}  → ${r.status} ${r.httpStatus ?? ''}`];
  if (r.endpoint.startsWith('mcp.')) out.push(...explainMcp(r, d));
  if (!d) return [...out, 'no decision was recorded (the request was refused before the policy ran, e.g. authentication or a malformed body)'];
  const verdict = d.effect === 'allow' ? 'ALLOWED' : d.effect === 'deny' ? 'DENIED' : 'APPROVAL REQUIRED';
  out.push(`decision ${d.decisionId}: ${verdict}${d.enforced ? '' : ' (observe mode: not enforced)'} under policy version ${d.policyVersion ?? '(none configured)'}`);
  if (d.sensitivity) out.push(`sensitivity: ${d.sensitivity}`);
  out.push('because:');
  for (const reason of d.reasons) {
    const sentence = SENTENCES[reason.code as ReasonCode];
    out.push(`  - ${sentence ? sentence(reason.ruleId ?? '', reason.detail ?? '') : OTHER_SENTENCES[reason.code] ?? reason.code}  [${reason.code}]`);
  }
  if (d.matchedRuleIds.length) out.push(`rules that matched: ${d.matchedRuleIds.join(', ')}`);
  const claims = claimNames(d);
  if (claims.names.length) out.push(`claims the rules could read: ${claims.names.join(', ')} (${claims.sealed ? 'values sealed in the record' : 'values not recorded'})`);
  if (d.route) out.push(`route: ${d.route.from} → ${d.route.to} for level ${d.route.level}${d.route.applied ? '' : ' (not applied)'}`);
  if (d.template) out.push(`template: ${d.template.id}@${d.template.version}`);
  if (d.approval) out.push(`approval: rule ${d.approval.ruleId ?? '?'}, mode ${d.approval.mode ?? '?'}`);
  const findings = [...r.findings, ...(r.responseFindings ?? [])] as unknown as (Finding & { action?: string; rule?: string; direction?: string; path?: string })[];
  if (findings.length) {
    out.push('findings (values are never recorded):');
    for (const f of findings) out.push(`  - ${f.type} at ${f.path ?? ''}[${f.start}..${f.end}] ${f.direction ?? 'request'}: ${f.action ?? 'flag'}${f.rule ? ` by rule ${f.rule}` : ''}`);
  }
  return out;
}

/** The claim names a decision was made with: an MCP record's sealed snapshot (src/audit/claims-snapshot.ts) or an LLM record's `input.claims` (names only). */
function claimNames(d: object): { names: string[]; sealed: boolean } {
  const snapshot = (d as { claims?: { names?: unknown } }).claims?.names;
  const names = snapshot ?? (d as { input?: { claims?: unknown } }).input?.claims;
  return { names: Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [], sealed: snapshot !== undefined };
}
