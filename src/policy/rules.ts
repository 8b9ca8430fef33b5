import type { Effect, FeatureLimits, PolicyRule, SubjectMatch, ViolationAction } from './document.ts';
import { PathError } from './errors.ts';
import type { PolicyInput, RequestFeatures } from './input.ts';
import { compileCondition, type Condition } from './cel.ts';
import { hoursMatcher, networkMatcher, stringMatcher } from './matchers.ts';

/** One rule compiled into closures: every check is a set lookup, a precompiled regex or a planned CEL program. */
export interface CompiledRule {
  id: string;
  effect: Effect;
  onViolation: ViolationAction | undefined;
  /** Subject, resource, context and sensitivity match (no CEL). */
  matches(input: PolicyInput, level: string | null): boolean;
  /** Whether the rule could ever grant this principal this model (for /v1/models). */
  mayGrant(p: PolicyInput['principal'], model: string): boolean;
  /** Whether the rule has conditions beyond subject + model (then /v1/models cannot rule it in or out). */
  conditional: boolean;
  when: Condition | undefined;
  /** The first feature this request uses beyond the rule's limits. */
  featureViolation(r: RequestFeatures): string | undefined;
}

export function compileRule(rule: PolicyRule, index: number): CompiledRule {
  const at = (key: string): string => `rules[${index}].${key}`;
  const subject = compileSubject(rule.subjects);
  const providers = stringMatcher(rule.resources?.providers);
  const models = stringMatcher(rule.resources?.models);
  const endpoints = stringMatcher(rule.resources?.endpoints);
  const clients = stringMatcher(rule.context?.clients);
  const networks = guard(at('context.networks'), () => (rule.context?.networks ? networkMatcher(rule.context.networks) : undefined));
  const hours = guard(at('context.hours'), () => (rule.context?.hours ? hoursMatcher(rule.context.hours) : undefined));
  const levels = rule.sensitivity ? new Set(rule.sensitivity) : undefined;
  const when = guard(at('when'), () => (rule.when === undefined ? undefined : compileCondition(rule.when)));
  const t = rule.features?.temperature;
  if (t?.min !== undefined && t.max !== undefined && t.min > t.max) throw new PathError(at('features.temperature'), 'min is greater than max');
  return {
    id: rule.id,
    effect: rule.effect,
    onViolation: rule.on_sensitivity_violation,
    conditional: !!(providers || endpoints || clients || networks || hours || levels || when || rule.features),
    matches(input, level) {
      if (!subject(input.principal)) return false;
      const r = input.resource;
      if ((providers && !providers(r.provider)) || (models && !models(r.model)) || (endpoints && !endpoints(r.endpoint))) return false;
      const c = input.context;
      if (clients && !clients(c.userAgent ?? '')) return false;
      if (networks && !networks(c.clientIp ?? '')) return false;
      if (hours && !hours(c.now)) return false;
      return !levels || (level !== null && levels.has(level));
    },
    mayGrant: (p, model) => subject(p) && (!models || models(model)),
    when,
    featureViolation: (r) => (rule.features ? featureViolation(rule.features, r) : undefined),
  };
}

function guard<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof PathError) throw err;
    throw new PathError(path, err instanceof Error ? err.message : String(err));
  }
}

export function compileSubject(s: SubjectMatch | undefined): (p: PolicyInput['principal']) => boolean {
  if (!s) return () => true;
  const users = stringMatcher(s.users);
  const groups = s.groups ? new Set(s.groups) : undefined;
  const anyGroup = s.groups?.includes('*') ?? false;
  const kinds = s.kinds ? new Set<string>(s.kinds) : undefined;
  const claims = Object.entries(s.claims ?? {}).map(([name, pats]) => [name, stringMatcher(Array.isArray(pats) ? pats : [pats])!] as const);
  return (p) => {
    if (kinds && !kinds.has(p.kind)) return false;
    if (users && !users(p.subject) && !users(stripKind(p.subject))) return false;
    if (groups && !anyGroup && !p.groups.some((g) => groups.has(g))) return false;
    for (const [name, match] of claims) {
      const v = p.claims?.[name];
      if (typeof v === 'string' ? !match(v) : !(Array.isArray(v) && v.some((x) => typeof x === 'string' && match(x)))) return false;
    }
    return true;
  };
}

/** `user:alice@example.com` may be written `alice@example.com` in a policy. */
function stripKind(subject: string): string {
  const i = subject.indexOf(':');
  return i === -1 ? subject : subject.slice(i + 1);
}

function featureViolation(f: FeatureLimits, r: RequestFeatures): string | undefined {
  if (f.tools === false && r.tools) return 'tools';
  if (f.images === false && r.images) return 'images';
  if (f.files === false && r.files) return 'files';
  if (f.streaming === false && r.stream) return 'streaming';
  if (f.templates_only === true && !r.template) return 'templates_only';
  // Without an explicit max_tokens the provider's own default applies, which may exceed the bound.
  if (f.max_tokens !== undefined && (r.maxTokens === null || r.maxTokens > f.max_tokens)) return 'max_tokens';
  if (f.temperature && r.temperature !== null) {
    if ((f.temperature.min !== undefined && r.temperature < f.temperature.min) || (f.temperature.max !== undefined && r.temperature > f.temperature.max)) return 'temperature';
  }
  return undefined;
}

