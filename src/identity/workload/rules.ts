import type { WorkloadRuleConfig } from '../config-schema.ts';
import { claimAt, globMatch } from '../groups.ts';
import { keptClaims } from '../claims-identity.ts';
import type { VerifiedIdentity } from '../tokens/sessions.ts';

/** A placeholder value must be plain (no spaces, quotes or control characters) to become part of a subject. */
const SAFE_VALUE = /^[A-Za-z0-9._/:@+=-]{1,200}$/;

function scalar(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/** Every matcher must hold; a claim that is missing or not a scalar never matches (deny by default). */
export function ruleMatches(rule: WorkloadRuleConfig, claims: Readonly<Record<string, unknown>>): boolean {
  return Object.entries(rule.match).every(([path, want]) => {
    const have = scalar(claimAt(claims, path));
    if (have === undefined) return false;
    return (Array.isArray(want) ? want : [want]).some((g) => globMatch(g, have));
  });
}

/** `ci:{repository}@{ref}` -> `ci:acme/app@refs/heads/main`; undefined when a placeholder is missing or unsafe. */
export function renderSubject(template: string, claims: Readonly<Record<string, unknown>>): string | undefined {
  let ok = true;
  const out = template.replace(/\{([A-Za-z0-9_.:-]+)\}/g, (_m, path: string) => {
    const v = scalar(claimAt(claims, path));
    if (v === undefined || !SAFE_VALUE.test(v)) ok = false;
    return v ?? '';
  });
  return ok ? out : undefined;
}

/**
 * First rule (in config order) of this issuer whose matchers hold wins: the workload becomes `workload:<subject>`
 * with the rule's groups. Rule order is the admin's precedence, like a firewall.
 */
export function workloadIdentity(q: {
  rules: readonly WorkloadRuleConfig[];
  issuerName: string;
  claims: Readonly<Record<string, unknown>>;
  /** Presented directly as a bearer (only `allow_direct` rules apply) rather than through token exchange. */
  direct: boolean;
}): { rule: WorkloadRuleConfig; identity: VerifiedIdentity } | undefined {
  const { claims } = q;
  for (const rule of q.rules) {
    if (rule.issuer !== q.issuerName || (q.direct && !rule.allow_direct)) continue;
    if (!ruleMatches(rule, claims)) continue;
    const subject = renderSubject(rule.subject, claims);
    if (subject === undefined) continue;
    return {
      rule,
      identity: {
        subject: `workload:${subject}`,
        kind: 'workload',
        displayName: subject,
        groups: [...new Set(rule.groups)].sort(),
        claims: { ...keptClaims(claims, Object.keys(rule.match)), rule: rule.name },
        source: `workload:${rule.name}`,
      },
    };
  }
  return undefined;
}
