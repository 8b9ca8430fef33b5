import type { Effect } from './document.ts';
import type { PolicyEngine } from './engine.ts';
import type { PolicyInput } from './input.ts';

/** One recorded exchange as the simulation sees it: the input the decision was made on, and what was decided. */
export interface RecordedDecision {
  exchangeId: string;
  input: PolicyInput;
  before: { effect: Effect; model: string };
}

export const CHANGE_KINDS = ['allowed_to_blocked', 'blocked_to_allowed', 'approval_required', 'approval_removed', 'routed_differently'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface SimulationReport {
  evaluated: number;
  unchanged: number;
  changes: Record<ChangeKind, { count: number; examples: string[] }>;
  /** Per deciding rule of the candidate (or reason, when no rule decided) and kind of change. */
  byRule: { rule: string; change: ChangeKind; count: number; examples: string[] }[];
}

const EXAMPLES = 5;

/** Pure: evaluates a candidate engine on recorded inputs and compares with what was decided then. */
export function simulate(engine: PolicyEngine, records: Iterable<RecordedDecision>): SimulationReport {
  const changes = Object.fromEntries(CHANGE_KINDS.map((k) => [k, { count: 0, examples: [] as string[] }])) as SimulationReport['changes'];
  const byRule = new Map<string, { rule: string; change: ChangeKind; count: number; examples: string[] }>();
  let evaluated = 0;
  let unchanged = 0;
  for (const r of records) {
    evaluated++;
    const d = engine.evaluate(r.input);
    const kind = classify(r.before, d.effect, d.reroute?.to ?? r.input.resource.model);
    if (!kind) {
      unchanged++;
      continue;
    }
    const c = changes[kind];
    c.count++;
    if (c.examples.length < EXAMPLES) c.examples.push(r.exchangeId);
    const deciders = d.reasons.map((x) => x.ruleId ?? `(${x.code})`);
    for (const rule of new Set(deciders)) {
      const key = `${rule}\u0000${kind}`;
      const e = byRule.get(key) ?? { rule, change: kind, count: 0, examples: [] };
      e.count++;
      if (e.examples.length < EXAMPLES) e.examples.push(r.exchangeId);
      byRule.set(key, e);
    }
  }
  return { evaluated, unchanged, changes, byRule: [...byRule.values()].sort((a, b) => b.count - a.count) };
}

function classify(before: RecordedDecision['before'], effect: Effect, model: string): ChangeKind | undefined {
  if (before.effect !== 'deny' && effect === 'deny') return 'allowed_to_blocked';
  if (before.effect === 'deny' && effect !== 'deny') return effect === 'require_approval' ? 'approval_required' : 'blocked_to_allowed';
  if (before.effect !== 'require_approval' && effect === 'require_approval') return 'approval_required';
  if (before.effect === 'require_approval' && effect === 'allow') return 'approval_removed';
  if (effect !== 'deny' && before.model !== model) return 'routed_differently';
  return undefined;
}
