import type { SensitivitySection, ViolationAction } from './document.ts';
import { PathError } from './errors.ts';
import { globToRegExp, stringMatcher, type StringMatcher } from './matchers.ts';

/** Header a client sets to label a request's sensitivity (it can raise the derived level, never lower it). */
export const SENSITIVITY_HEADER = 'x-portcullis-sensitivity';
/** The same label in a request's `metadata` object (OpenAI chat/responses `metadata`, Anthropic `metadata`). */
export const SENSITIVITY_METADATA_KEY = 'portcullis_sensitivity';

export interface SensitivityResult {
  level: string;
  /** The level derived from findings alone. */
  derived: string;
  /** Set when the client's label was not a configured level (the request is refused). */
  invalidLabel?: boolean;
}

export interface CompiledSensitivity {
  readonly levels: readonly string[];
  readonly acceptsHeader: boolean;
  readonly acceptsMetadata: boolean;
  classify(findingTypes: readonly { type: string }[], label: string | undefined): SensitivityResult;
  /** Whether `model` may receive a request of `level`. */
  allows(level: string, model: string): boolean;
  /** The model to reroute to for a level, if the policy names one. */
  rerouteTarget(level: string): string | undefined;
  readonly defaultViolation: ViolationAction;
}

/** Checks references and compiles once; throws TypeError with a key path prefix on a bad reference. */
export function compileSensitivity(
  s: SensitivitySection | undefined,
  routing: { reroute?: Record<string, string>; on_sensitivity_violation?: ViolationAction } | undefined,
): CompiledSensitivity | undefined {
  if (!s) {
    if (routing?.reroute && Object.keys(routing.reroute).length > 0) throw new PathError('routing.reroute', 'needs a sensitivity section');
    return undefined;
  }
  const rank = new Map(s.levels.map((l, i) => [l, i]));
  const known = (path: string, l: string): number => {
    const r = rank.get(l);
    if (r === undefined) throw new PathError(path, `unknown sensitivity level "${l}" (levels: ${s.levels.join(', ')})`);
    return r;
  };
  const base = s.default === undefined ? 0 : known('sensitivity.default', s.default);
  const exact = new Map<string, number>();
  const globs: { re: RegExp; rank: number }[] = [];
  for (const [type, l] of Object.entries(s.findings ?? {})) {
    const r = known(`sensitivity.findings.${type}`, l);
    if (/[*?]/.test(type)) globs.push({ re: globToRegExp(type), rank: r });
    else exact.set(type, r);
  }
  const models = new Map<number, StringMatcher>();
  for (const [l, pats] of Object.entries(s.models ?? {})) models.set(known(`sensitivity.models.${l}`, l), stringMatcher(pats)!);
  const reroute = new Map<string, string>();
  for (const [l, model] of Object.entries(routing?.reroute ?? {})) {
    const r = known(`routing.reroute.${l}`, l);
    const m = models.get(r);
    if (m && !m(model)) throw new PathError(`routing.reroute.${l}`, `"${model}" is not among the models allowed for ${l}`);
    reroute.set(l, model);
  }
  const rankOf = (type: string): number => {
    const r = exact.get(type);
    if (r !== undefined) return r;
    let best = -1;
    for (const g of globs) if (g.rank > best && g.re.test(type)) best = g.rank;
    return best;
  };
  return {
    levels: s.levels,
    acceptsHeader: s.labels?.header ?? true,
    acceptsMetadata: s.labels?.metadata ?? true,
    defaultViolation: routing?.on_sensitivity_violation ?? 'block',
    classify(findings, label) {
      let r = base;
      for (const f of findings) r = Math.max(r, rankOf(f.type));
      const derived = s.levels[r]!;
      if (label === undefined) return { level: derived, derived };
      const lr = rank.get(label);
      if (lr === undefined) return { level: derived, derived, invalidLabel: true };
      // A label may raise the level, never lower it.
      return { level: s.levels[Math.max(r, lr)]!, derived };
    },
    allows(level, model) {
      const m = models.get(rank.get(level) ?? -1);
      return m === undefined || m(model);
    },
    rerouteTarget: (level) => reroute.get(level),
  };
}
