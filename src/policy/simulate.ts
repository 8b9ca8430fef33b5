import type { Effect } from './document.ts';
import type { PolicyEngine } from './engine.ts';
import type { PolicyInput } from './input.ts';
import type { McpEngine, McpInput } from './mcp.ts';

/** What was decided then: the effect, the model it went to, and the rules that decided. */
export interface RecordedOutcome {
  effect: Effect;
  model: string;
  rules?: string[];
}

/**
 * One recorded exchange as the simulation sees it: the input the decision was made on, and what was decided. An
 * LLM exchange is replayed through the document's rules, an MCP request (`mcp.*`) through its `mcp:` rules.
 */
export type RecordedDecision =
  | { exchangeId: string; kind?: 'llm'; input: PolicyInput; before: RecordedOutcome }
  | { exchangeId: string; kind: 'mcp'; input: McpInput; before: RecordedOutcome };

export const CHANGE_KINDS = ['allowed_to_blocked', 'blocked_to_allowed', 'approval_required', 'approval_removed', 'routed_differently'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** One exchange whose decision would change: before and after, each with its deciding rules. */
export interface ChangedRecord {
  exchangeId: string;
  change: ChangeKind;
  before: { effect: Effect; rules: string[] };
  after: { effect: Effect; rules: string[] };
}

export interface SimulationReport {
  evaluated: number;
  unchanged: number;
  changes: Record<ChangeKind, { count: number; examples: string[] }>;
  /** Per deciding rule of the candidate (or reason, when no rule decided) and kind of change. */
  byRule: { rule: string; change: ChangeKind; count: number; examples: string[] }[];
  /** The first changed exchanges (at most `CHANGED_RECORDS`), in the order evaluated. */
  records: ChangedRecord[];
}

/** The candidate version's two rule sets. */
export interface CandidateEngines {
  llm: PolicyEngine;
  mcp: McpEngine;
}

const EXAMPLES = 5;
export const CHANGED_RECORDS = 200;

/** Pure: evaluates a candidate version on recorded inputs and compares with what was decided then. */
export function simulate(engines: CandidateEngines, records: Iterable<RecordedDecision>): SimulationReport {
  const changes = Object.fromEntries(CHANGE_KINDS.map((k) => [k, { count: 0, examples: [] as string[] }])) as SimulationReport['changes'];
  const byRule = new Map<string, { rule: string; change: ChangeKind; count: number; examples: string[] }>();
  const changed: ChangedRecord[] = [];
  let evaluated = 0;
  let unchanged = 0;
  for (const r of records) {
    evaluated++;
    // An MCP request is never rerouted: it goes to the server it named.
    const d = r.kind === 'mcp' ? { ...engines.mcp.decide(r.input), model: r.before.model } : llmDecision(engines.llm, r.input);
    const kind = classify(r.before, d.effect, d.model);
    if (!kind) {
      unchanged++;
      continue;
    }
    const c = changes[kind];
    c.count++;
    if (c.examples.length < EXAMPLES) c.examples.push(r.exchangeId);
    const deciders = d.reasons.map((x) => x.ruleId ?? `(${x.code})`);
    if (changed.length < CHANGED_RECORDS) {
      changed.push({ exchangeId: r.exchangeId, change: kind, before: { effect: r.before.effect, rules: r.before.rules ?? [] }, after: { effect: d.effect, rules: [...new Set(deciders)] } });
    }
    for (const rule of new Set(deciders)) {
      const key = `${rule}\u0000${kind}`;
      const e = byRule.get(key) ?? { rule, change: kind, count: 0, examples: [] };
      e.count++;
      if (e.examples.length < EXAMPLES) e.examples.push(r.exchangeId);
      byRule.set(key, e);
    }
  }
  return { evaluated, unchanged, changes, byRule: [...byRule.values()].sort((a, b) => b.count - a.count), records: changed };
}

function llmDecision(engine: PolicyEngine, input: PolicyInput): { effect: Effect; reasons: { code: string; ruleId?: string }[]; model: string } {
  const d = engine.evaluate(input);
  return { effect: d.effect, reasons: d.reasons, model: d.reroute?.to ?? input.resource.model };
}

function classify(before: RecordedOutcome, effect: Effect, model: string): ChangeKind | undefined {
  if (before.effect !== 'deny' && effect === 'deny') return 'allowed_to_blocked';
  if (before.effect === 'deny' && effect !== 'deny') return effect === 'require_approval' ? 'approval_required' : 'blocked_to_allowed';
  if (before.effect !== 'require_approval' && effect === 'require_approval') return 'approval_required';
  if (before.effect === 'require_approval' && effect === 'allow') return 'approval_removed';
  if (effect !== 'deny' && before.model !== model) return 'routed_differently';
  return undefined;
}
