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

/**
 * `portcullis exchanges explain ID`: why an exchange was allowed, refused, rerouted or held, for a human — from
 * the decision recorded with it (never the content: findings are listed by type, place and action only).
 */
export function explainExchange(r: ExchangeRow): string[] {
  const d = r.decision as unknown as (DecisionRecord & { route?: { level: string; from: string; to: string; applied: boolean }; template?: { id: string; version: number }; approval?: { ruleId?: string; mode?: string } }) | null;
  const out = [`exchange ${r.id}  ${new Date(r.startedAt).toISOString()}  ${r.subject ?? '-'}  ${r.endpoint}  ${r.model ?? '-'}  → ${r.status} ${r.httpStatus ?? ''}`];
  if (!d) return [...out, 'no decision was recorded (the request was refused before the policy ran, e.g. authentication or a malformed body)'];
  const verdict = d.effect === 'allow' ? 'ALLOWED' : d.effect === 'deny' ? 'DENIED' : 'APPROVAL REQUIRED';
  out.push(`decision ${d.decisionId}: ${verdict}${d.enforced ? '' : ' (observe mode: not enforced)'} under policy version ${d.policyVersion ?? '(none configured)'}`);
  if (d.sensitivity) out.push(`sensitivity: ${d.sensitivity}`);
  out.push('because:');
  for (const reason of d.reasons) {
    const sentence = SENTENCES[reason.code as ReasonCode];
    out.push(`  - ${sentence ? sentence(reason.ruleId ?? '', reason.detail ?? '') : reason.code}  [${reason.code}]`);
  }
  if (d.matchedRuleIds.length) out.push(`rules that matched: ${d.matchedRuleIds.join(', ')}`);
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
