import { BUDGET_METRICS, type BudgetLimitSpec, type BudgetMetric, type BudgetPer, type BudgetsSection } from './schema.ts';

/**
 * Compiles a `budgets:` section once per policy version: globs become regular expressions, limits become
 * matchers that give, for one caller and model, the counters to check. Evaluation does no I/O.
 */
export interface BudgetSubject {
  readonly subject: string;
  readonly kind: 'user' | 'service' | 'workload';
  readonly groups: readonly string[];
}

export interface CompiledLimit {
  readonly id: string;
  readonly per: readonly BudgetPer[];
  /** Metric → its limit (spend in micro-dollars). */
  readonly metrics: ReadonlyMap<BudgetMetric, number>;
  /** The scopes this limit counts for the caller and model (none when it does not apply). */
  scopes(p: BudgetSubject, model: string): string[];
}

export interface CompiledBudgets {
  readonly window: 'sliding' | 'fixed';
  readonly limits: readonly CompiledLimit[];
  /** Limits and scopes that apply to one caller and model. */
  applicable(p: BudgetSubject, model: string): { limit: CompiledLimit; scope: string }[];
  /** Cost of usage in micro-dollars (0 for models without a price). */
  costMicros(model: string, inputTokens: number, outputTokens: number): number;
}

/** What an MCP tool call is checked as: `mcp:<server>/<tool>` (matched by `match.mcp_tools` without the prefix). */
export const MCP_MODEL_PREFIX = 'mcp:';

export class BudgetConfigError extends Error {
  override readonly name = 'BudgetConfigError';
  /** JSON pointer-ish path of the offending key, e.g. `budgets.limits[2].match.models[0]`. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

function matcher(globs: readonly string[] | undefined): ((v: string) => boolean) | undefined {
  if (!globs) return undefined;
  const exact = new Set(globs.filter((g) => !g.includes('*')));
  const res = globs.filter((g) => g.includes('*')).map(globToRegExp);
  return (v) => exact.has(v) || res.some((r) => r.test(v));
}

function compileLimit(spec: BudgetLimitSpec, at: string): CompiledLimit {
  const per: BudgetPer[] = spec.per === undefined ? ['user'] : Array.isArray(spec.per) ? [...spec.per] : [spec.per];
  const metrics = new Map<BudgetMetric, number>();
  for (const m of BUDGET_METRICS) {
    const v = spec[m];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0)) throw new BudgetConfigError(`${at}.${m}`, 'must be a positive number');
    metrics.set(m, m === 'spend_per_month' ? Math.round(v * 1e6) : v);
  }
  if (metrics.size === 0) throw new BudgetConfigError(at, 'a limit needs at least one of requests_per_minute, tokens_per_minute, tokens_per_day, spend_per_month');
  const subjects = matcher(spec.match?.subjects);
  const models = matcher(spec.match?.models);
  const mcpTools = matcher(spec.match?.mcp_tools);
  const groups = spec.match?.groups ? new Set(spec.match.groups) : undefined;
  return {
    id: spec.id,
    per,
    metrics,
    scopes(p, model) {
      // MCP tool calls are checked as `mcp:<server>/<tool>` (MCP_MODEL_PREFIX); they and model requests never
      // share a limit, so a requests-per-minute limit on models does not throttle tool calls and vice versa.
      const isMcp = model.startsWith(MCP_MODEL_PREFIX);
      if (isMcp !== (mcpTools !== undefined)) return [];
      if (mcpTools && !mcpTools(model.slice(MCP_MODEL_PREFIX.length))) return [];
      if (subjects && !subjects(p.subject)) return [];
      if (models && !models(model)) return [];
      const inGroups = groups ? p.groups.filter((g) => groups.has(g)) : [...p.groups];
      if (groups && inGroups.length === 0) return [];
      let scopes = [''];
      for (const k of per) {
        const parts = scopePart(k, p, model, inGroups);
        if (parts.length === 0) return [];
        scopes = scopes.flatMap((s) => parts.map((x) => (s ? `${s}|${x}` : x)));
      }
      return scopes;
    },
  };
}

function scopePart(k: BudgetPer, p: BudgetSubject, model: string, groups: string[]): string[] {
  switch (k) {
    case 'user': return p.kind === 'user' ? [p.subject.startsWith('user:') ? p.subject : `user:${p.subject}`] : [];
    case 'service': return p.kind === 'user' ? [] : [p.subject.startsWith('service:') || p.subject.startsWith('workload:') ? p.subject : `service:${p.subject}`];
    case 'group': return groups.map((g) => `group:${g}`);
    case 'model': return [`model:${model}`];
    case 'global': return ['global'];
  }
}

/** Throws BudgetConfigError naming the key for semantic errors the JSON Schema cannot express. */
export function compileBudgets(section: BudgetsSection | undefined): CompiledBudgets {
  const window = section?.window ?? 'sliding';
  if (window !== 'sliding' && window !== 'fixed') throw new BudgetConfigError('budgets.window', 'must be sliding or fixed');
  const seen = new Set<string>();
  const limits = (section?.limits ?? []).map((spec, i) => {
    const at = `budgets.limits[${i}]`;
    if (typeof spec.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(spec.id)) throw new BudgetConfigError(`${at}.id`, 'must be 1-64 letters, digits, . _ -');
    if (seen.has(spec.id)) throw new BudgetConfigError(`${at}.id`, `duplicate limit id "${spec.id}"`);
    seen.add(spec.id);
    return compileLimit(spec, at);
  });
  const prices = (section?.prices ?? []).map((p, i) => {
    if (!(p.input_per_million >= 0) || !(p.output_per_million >= 0)) throw new BudgetConfigError(`budgets.prices[${i}]`, 'prices must be numbers >= 0');
    return { match: matcher([p.model])!, input: p.input_per_million, output: p.output_per_million };
  });
  const priceCache = new Map<string, { input: number; output: number } | null>();
  const priceOf = (model: string): { input: number; output: number } | null => {
    let hit = priceCache.get(model);
    if (hit === undefined) {
      hit = prices.find((p) => p.match(model)) ?? null;
      if (priceCache.size < 10_000) priceCache.set(model, hit);
    }
    return hit;
  };
  return {
    window,
    limits,
    applicable(p, model) {
      const out: { limit: CompiledLimit; scope: string }[] = [];
      for (const limit of limits) for (const scope of limit.scopes(p, model)) out.push({ limit, scope });
      return out;
    },
    costMicros(model, inputTokens, outputTokens) {
      const price = priceOf(model);
      // USD per million tokens = micro-dollars per token.
      return price ? Math.round(inputTokens * price.input + outputTokens * price.output) : 0;
    },
  };
}
