import { isIP } from 'node:net';
import { clientFamily } from '../analytics/client-family.ts';
import type { AlertRuleConfig } from './config-schema.ts';
import type { AlertRule, AlertSource, Hit } from './types.ts';

/** Micro-dollars of an exchange at the active policy's prices (analytics/fold.ts `CostOf`). */
export type CostOf = (model: string, inputTokens: number, outputTokens: number) => number;

const DAY_MS = 86_400_000;
/** A refusal the alerting itself caused: counting it would re-open the case while the identity is suspended. */
const OWN_REFUSALS = new Set(['identity_suspended']);

export function compileRules(rules: readonly AlertRuleConfig[]): Map<string, AlertRule> {
  const out = new Map<string, AlertRule>();
  for (const r of rules) {
    const novel = r.kind === 'new_client' || r.kind === 'new_network';
    out.set(r.id, {
      id: r.id, kind: r.kind, description: r.description ?? '', severity: r.severity, respond: r.respond, approvers: r.approvers ?? [],
      mode: novel ? 'novel' : 'threshold',
      threshold: novel ? 1 : r.kind === 'spend' ? Math.round((r.threshold ?? 0) * 1_000_000) : (r.threshold ?? 1),
      window: r.kind === 'spend' ? 'day' : (r.window_minutes ?? 0) * 60_000,
    });
  }
  return out;
}

/** The network a client address belongs to: its /24 (IPv4) or /48 (IPv6), the usual allocation to one site. */
export function networkOf(ip: string | null): string | null {
  if (!ip) return null;
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+)\.\d+$/i.exec(ip);
  if (v4 && isIP(ip.replace(/^::ffff:/i, '')) === 4) return `${v4[1]}.0/24`;
  if (isIP(ip) !== 6) return null;
  // Expand `::` so the first three groups are the /48.
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups.slice(0, 3).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/48`;
}

function subjectsOf(rule: AlertRuleConfig, row: AlertSource): { subject: string; identity: string | null }[] {
  const by = rule.by ?? (rule.kind === 'spend' ? 'group' : 'subject');
  if (by === 'all') return [{ subject: '*', identity: null }];
  if (by === 'group') return row.groups.map((g) => ({ subject: `group:${g}`, identity: null }));
  return row.subject ? [{ subject: row.subject, identity: row.subject }] : [];
}

/** How much one exchange weighs for a threshold rule (0: it does not count). */
function weightOf(rule: AlertRuleConfig, row: AlertSource, costOf: CostOf): number {
  switch (rule.kind) {
    case 'refusals':
      if (row.status !== 'rejected' || !row.errorCode || OWN_REFUSALS.has(row.errorCode)) return 0;
      return !rule.codes || rule.codes.includes(row.errorCode) ? 1 : 0;
    case 'approvals_denied':
      return row.status === 'rejected' && row.errorCode === 'approval_denied' ? 1 : 0;
    case 'findings':
      return row.findingTypes.filter((t) => !rule.finding_types || rule.finding_types.includes(t)).length;
    case 'spend':
      return row.model && (row.inputTokens || row.outputTokens) ? costOf(row.model, row.inputTokens ?? 0, row.outputTokens ?? 0) : 0;
    default:
      return 0;
  }
}

/**
 * The hits of finished exchanges (pure). Exchanges older than every window (`now - horizon`) make none: an upgrade
 * or a first rule evaluates the history without paging anyone about last month.
 */
export function hitsOf(o: { rules: readonly AlertRuleConfig[]; rows: readonly AlertSource[]; costOf: CostOf; now: number }): Hit[] {
  const hits: Hit[] = [];
  for (const row of o.rows) {
    for (const rule of o.rules) {
      const horizon = rule.kind === 'spend' ? DAY_MS : Math.max(rule.window_minutes ?? 0, 60) * 60_000;
      if (row.at < o.now - horizon) continue;
      if (rule.kind === 'new_client' || rule.kind === 'new_network') {
        if (!row.subject) continue;
        // A refused request proves little about the tool or network of a credential that works.
        if (row.status === 'rejected' && row.errorCode === 'unauthenticated') continue;
        const value = rule.kind === 'new_client' ? clientFamily(row.userAgent) : networkOf(row.clientIp);
        if (!value || (rule.kind === 'new_network' && !row.credentialId)) continue;
        const subject = rule.kind === 'new_client' ? row.subject : `credential:${row.credentialId}`;
        hits.push({ ruleId: rule.id, subject, identity: row.subject, at: row.at, exchangeId: row.id, weight: 1, value });
        continue;
      }
      const weight = weightOf(rule, row, o.costOf);
      if (weight <= 0) continue;
      for (const s of subjectsOf(rule, row)) hits.push({ ruleId: rule.id, ...s, at: row.at, exchangeId: row.id, weight });
    }
  }
  // Sorted by rule and subject, so concurrent evaluators lock state rows in one order (no deadlock).
  return hits.sort((a, b) => (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : a.at - b.at));
}

export interface Crossing {
  /** When the weights reached the threshold (the hit that crossed it). */
  at: number;
  /** The start of the counted window: with rule and subject, the firing's unique key. */
  windowKey: string;
  weight: number;
  exchangeIds: string[];
}

export interface CountedHit {
  at: number;
  weight: number;
  exchangeId: string;
}

/**
 * Where the hits of one rule and subject reach the threshold (pure). `hits` are every hit after `lastFiredAt`
 * (a firing restarts the count: one burst opens one investigation, the next burst another); a sliding window
 * counts the hits in (t - window, t], a day window those of t's UTC day. Each crossing restarts the count.
 */
export function sweep(hits: readonly CountedHit[], rule: Pick<AlertRule, 'threshold' | 'window'>, lastFiredAt: number): Crossing[] {
  const sorted = hits.filter((x) => x.at > lastFiredAt).sort((a, b) => a.at - b.at || (a.exchangeId < b.exchangeId ? -1 : 1));
  const out: Crossing[] = [];
  let win: CountedHit[] = [];
  let sum = 0;
  let floor = lastFiredAt;
  for (const hit of sorted) {
    if (hit.at <= floor) continue;
    const start = rule.window === 'day' ? hit.at - (hit.at % DAY_MS) : hit.at - rule.window;
    const fits = (x: CountedHit): boolean => (rule.window === 'day' ? x.at >= start : x.at > start);
    while (win.length > 0 && !fits(win[0]!)) sum -= win.shift()!.weight;
    win.push(hit);
    sum += hit.weight;
    if (sum >= rule.threshold) {
      const windowKey = rule.window === 'day' ? new Date(start).toISOString().slice(0, 10) : String(win[0]!.at);
      out.push({ at: hit.at, windowKey, weight: sum, exchangeIds: win.map((x) => x.exchangeId) });
      floor = hit.at;
      win = [];
      sum = 0;
    }
  }
  return out;
}
