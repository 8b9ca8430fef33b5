import { prepareBindings, type CelBindings, type PreparedBindings } from './cel.ts';
import type { Effect, PolicyDocument } from './document.ts';
import { PathError, type PolicyIssue } from './errors.ts';
import type { PolicyInput } from './input.ts';
import type { Reason } from './reasons.ts';
import { compileRule, type CompiledRule } from './rules.ts';
import { compileSensitivity, type CompiledSensitivity } from './sensitivity.ts';
import { wallClock } from './matchers.ts';

/** The value the engine returns: a decision, never an exception (STYLE.md #3). */
export interface PolicyDecision {
  effect: Effect;
  reasons: Reason[];
  matchedRuleIds: string[];
  policyVersion: string;
  sensitivity: string | null;
  /** Set when sensitivity sends the request to another (client-facing) model. */
  reroute?: { level: string; from: string; to: string };
}

/** A policy version compiled once; `evaluate` is pure and synchronous (no I/O, no clock of its own). */
export interface PolicyEngine {
  readonly version: string;
  readonly document: PolicyDocument;
  readonly sensitivity: CompiledSensitivity | undefined;
  evaluate(input: PolicyInput): PolicyDecision;
  /** Whether some rule may grant this principal the model (for /v1/models; conditions are not known there). */
  mayUseModel(principal: PolicyInput['principal'], model: string): boolean;
}

export class PolicyCompileError extends Error {
  override readonly name = 'PolicyCompileError';
  readonly issues: PolicyIssue[];
  constructor(issues: PolicyIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.issues = issues;
  }
}

/** Compiles a schema-valid document; every semantic problem is reported with its key path. */
export function compilePolicy(doc: PolicyDocument, version: string): PolicyEngine {
  const issues: PolicyIssue[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (err) {
      if (err instanceof PathError) issues.push({ path: err.path, message: err.message });
      else throw err;
      return undefined;
    }
  };
  const seen = new Set<string>();
  doc.rules.forEach((r, i) => {
    if (seen.has(r.id)) issues.push({ path: `rules[${i}].id`, message: `duplicate rule id "${r.id}"` });
    seen.add(r.id);
  });
  const sensitivity = attempt(() => compileSensitivity(doc.sensitivity, doc.routing));
  const levels = new Set(doc.sensitivity?.levels ?? []);
  doc.rules.forEach((r, i) => {
    (r.sensitivity ?? []).forEach((l, j) => {
      if (!levels.has(l)) issues.push({ path: `rules[${i}].sensitivity[${j}]`, message: `unknown sensitivity level "${l}"` });
    });
  });
  const rules = doc.rules.map((r, i) => attempt(() => compileRule(r, i)));
  if (issues.length > 0) throw new PolicyCompileError(issues);
  return createEngine({ doc, version, sensitivity, rules: rules as CompiledRule[] });
}

interface EngineParts {
  doc: PolicyDocument;
  version: string;
  sensitivity: CompiledSensitivity | undefined;
  rules: CompiledRule[];
}

const utc = wallClock('UTC');

function createEngine(e: EngineParts): PolicyEngine {
  const defaultAllow = e.doc.defaults?.effect === 'allow';
  const unconditionalDenies = e.rules.filter((r) => r.effect === 'deny' && !r.conditional);
  const grants = e.rules.filter((r) => r.effect !== 'deny');
  return {
    version: e.version,
    document: e.doc,
    sensitivity: e.sensitivity,
    evaluate: (input) => evaluate(e, defaultAllow, input),
    mayUseModel(p, model) {
      if (unconditionalDenies.some((r) => r.mayGrant(p, model))) return false;
      return defaultAllow || grants.some((r) => r.mayGrant(p, model));
    },
  };
}

function evaluate(e: EngineParts, defaultAllow: boolean, input: PolicyInput): PolicyDecision {
  const decide = (effect: Effect, reasons: Reason[], matched: string[], level: string | null): PolicyDecision => ({
    effect, reasons, matchedRuleIds: matched, policyVersion: e.version, sensitivity: level,
  });
  let level: string | null = null;
  if (e.sensitivity) {
    const s = e.sensitivity.classify(input.findings, input.label);
    if (s.invalidLabel) return decide('deny', [{ code: 'sensitivity_label_invalid', detail: e.sensitivity.levels.join('|') }], [], s.derived);
    level = s.level;
  }
  let bindings: PreparedBindings | undefined;
  const denies: CompiledRule[] = [];
  const granted: CompiledRule[] = [];
  const misses: Reason[] = [];
  const errors: Reason[] = [];
  for (const rule of e.rules) {
    if (!rule.matches(input, level)) continue;
    if (rule.when) {
      const r = rule.when((bindings ??= prepareBindings(celBindings(input, level))));
      if (r instanceof Error) {
        errors.push({ code: 'evaluation_error', detail: 'condition', ruleId: rule.id });
        continue;
      }
      if (!r) continue;
    }
    if (rule.effect === 'deny') {
      denies.push(rule);
      continue;
    }
    const feature = rule.featureViolation(input.request);
    if (feature) misses.push({ code: 'feature_not_allowed', detail: feature, ruleId: rule.id });
    else granted.push(rule);
  }
  // Fail closed: a rule that cannot be evaluated denies, whatever the other rules say.
  if (errors.length > 0) return decide('deny', errors, errors.map((r) => r.ruleId!), level);
  if (denies.length > 0) return decide('deny', denies.map((r) => ({ code: 'denied_by_rule', ruleId: r.id })), denies.map((r) => r.id), level);
  if (granted.length === 0) {
    if (misses.length > 0) return decide('deny', misses, misses.map((r) => r.ruleId!), level);
    if (!defaultAllow) return decide('deny', [{ code: 'no_matching_rule' }], [], level);
  }
  const approvals = granted.filter((r) => r.effect === 'require_approval');
  const deciding = approvals.length > 0 ? approvals : granted;
  const effect: Effect = approvals.length > 0 ? 'require_approval' : 'allow';
  const reasons: Reason[] = deciding.length > 0
    ? deciding.map((r) => ({ code: effect === 'allow' ? 'allowed_by_rule' : 'approval_required_by_rule', ruleId: r.id }))
    : [{ code: 'default_allow' }];
  const out = decide(effect, reasons, granted.map((r) => r.id), level);
  return level === null ? out : applySensitivity(e.sensitivity!, out, input, deciding[0]);
}

/** The requested model may not see this level: reroute to the level's model, or block, as the deciding rule says. */
function applySensitivity(s: CompiledSensitivity, d: PolicyDecision, input: PolicyInput, rule: CompiledRule | undefined): PolicyDecision {
  const level = d.sensitivity!;
  if (s.allows(level, input.resource.model)) return d;
  const action = rule?.onViolation ?? s.defaultViolation;
  const target = action === 'reroute' ? s.rerouteTarget(level) : undefined;
  if (target === undefined) {
    return { ...d, effect: 'deny', reasons: [{ code: 'sensitivity_not_allowed', ruleId: rule?.id, detail: level }] };
  }
  return {
    ...d,
    reasons: [...d.reasons, { code: 'sensitivity_rerouted', ruleId: rule?.id, detail: `${level}->${target}` }],
    reroute: { level, from: input.resource.model, to: target },
  };
}

function celBindings(input: PolicyInput, level: string | null): CelBindings {
  const p = input.principal;
  const r = input.request;
  const clock = utc(input.context.now);
  return {
    principal: { subject: p.subject, kind: p.kind, groups: [...p.groups], claims: p.claims ?? {} },
    request: {
      provider: input.resource.provider, model: input.resource.model, endpoint: input.resource.endpoint,
      stream: r.stream, tools: r.tools, images: r.images, files: r.files,
      max_tokens: r.maxTokens ?? 0, temperature: r.temperature ?? -1, template: r.template,
    },
    context: {
      hour: Math.floor(clock.minutes / 60), minute: clock.minutes % 60, weekday: clock.day,
      client_ip: input.context.clientIp ?? '', user_agent: input.context.userAgent ?? '',
    },
    sensitivity: level ?? '',
    findings: input.findings.map((f) => f.type),
  };
}
