import type { parse } from '@bufbuild/cel';

type ParsedExpr = ReturnType<typeof parse>;
type Expr = NonNullable<ParsedExpr['expr']>;

/**
 * Field names in conditions, checked against the declared shape of the bindings at validate/push time. The CEL
 * variables `principal`, `request` and `context` are maps (`@bufbuild/cel` has no declared object types to check
 * against), so without this check `request.modle == "x"` compiles, and only at run time reads a key that is never
 * there — an evaluation error that denies every request the rule is asked about. Walking the parsed AST, every
 * field selected (`request.modle`, `has(request.modle)`) or indexed with a literal (`request["modle"]`) on those
 * roots must be a declared field; a scalar or list field cannot be selected into (`request.model.name`).
 * `principal.claims` is the one free-form map: IdPs issue any claim, so any key is accepted there (guard optional
 * ones with `has(…)`; docs/policies.md#cel-conditions). A comprehension variable that shadows a root is left alone.
 */
export type FieldKind = 'string' | 'number' | 'boolean' | 'list' | 'map';
export type Shape = Readonly<Record<string, Readonly<Record<string, FieldKind>>>>;

/** The shape of sample bindings: each root's keys and the kind of each value. */
export function shapeOf(sample: Record<string, unknown>): Shape {
  const out: Record<string, Record<string, FieldKind>> = {};
  for (const [root, value] of Object.entries(sample)) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
    out[root] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, kindOf(v)]));
  }
  return out;
}

function kindOf(v: unknown): FieldKind {
  if (Array.isArray(v)) return 'list';
  if (v !== null && typeof v === 'object') return 'map';
  return typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'boolean' : 'number';
}

/** The first field problem of a parsed condition, with its place in the source (line:column), or undefined. */
export function fieldProblem(parsed: ParsedExpr, src: string, shape: Shape): string | undefined {
  const positions = parsed.sourceInfo?.positions ?? {};
  const at = (e: Expr): string => {
    const offset = positions[e.id.toString()] ?? 0;
    const before = src.slice(0, offset).split('\n');
    return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1} of the condition`;
  };
  let problem: string | undefined;
  const visit = (e: Expr | undefined, shadowed: ReadonlySet<string>): void => {
    if (!e || problem) return;
    const k = e.exprKind;
    switch (k.case) {
      case 'selectExpr':
        problem = accessProblem(k.value.operand, k.value.field, shadowed, shape);
        if (problem) problem = `${problem} (${at(e)})`;
        return visit(k.value.operand, shadowed);
      case 'callExpr': {
        const [target, key] = k.value.args;
        const literal = key?.exprKind.case === 'constExpr' && key.exprKind.value.constantKind.case === 'stringValue' ? key.exprKind.value.constantKind.value : undefined;
        if (k.value.function === '_[_]' && literal !== undefined) {
          problem = accessProblem(target, literal, shadowed, shape);
          if (problem) problem = `${problem} (${at(e)})`;
        }
        visit(k.value.target, shadowed);
        for (const a of k.value.args) visit(a, shadowed);
        return;
      }
      case 'listExpr':
        for (const x of k.value.elements) visit(x, shadowed);
        return;
      case 'structExpr':
        for (const x of k.value.entries) {
          if (x.keyKind.case === 'mapKey') visit(x.keyKind.value, shadowed);
          visit(x.value, shadowed);
        }
        return;
      case 'comprehensionExpr': {
        const c = k.value;
        visit(c.iterRange, shadowed);
        visit(c.accuInit, shadowed);
        const inner = new Set([...shadowed, c.iterVar, c.iterVar2, c.accuVar].filter((x) => x));
        visit(c.loopCondition, inner);
        visit(c.loopStep, inner);
        visit(c.result, inner);
        return;
      }
      default:
        return;
    }
  };
  visit(parsed.expr, new Set());
  return problem;
}

/** `operand.field` (or `operand["field"]`): checked when the operand is a root, or a root's field. */
function accessProblem(operand: Expr | undefined, field: string, shadowed: ReadonlySet<string>, shape: Shape): string | undefined {
  const root = rootName(operand, shadowed, shape);
  if (root !== undefined) {
    const fields = shape[root]!;
    if (fields[field] !== undefined) return undefined;
    const hint = closest(field, Object.keys(fields));
    return `unknown field ${root}.${field}${hint ? ` (did you mean ${root}.${hint}?)` : ''}; ${root} has ${Object.keys(fields).join(', ')}`;
  }
  if (operand?.exprKind.case !== 'selectExpr') return undefined;
  const parent = rootName(operand.exprKind.value.operand, shadowed, shape);
  if (parent === undefined) return undefined;
  const kind = shape[parent]![operand.exprKind.value.field];
  // Unknown parent fields are reported by the inner select; a map (claims) takes any key.
  if (kind === undefined || kind === 'map') return undefined;
  return `${parent}.${operand.exprKind.value.field} is a ${kind}: it has no field ${field}`;
}

function rootName(e: Expr | undefined, shadowed: ReadonlySet<string>, shape: Shape): string | undefined {
  if (e?.exprKind.case !== 'identExpr') return undefined;
  const name = e.exprKind.value.name;
  return shape[name] !== undefined && !shadowed.has(name) ? name : undefined;
}

/** The declared field nearest to a typo (edit distance ≤ 2), for the error message. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d <= 2 && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    // Transposition (Damerau): "modle" is one step from "model".
    if (i > 1) for (let j = 2; j <= b.length; j++) if (a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j]!, prev[j - 2]! + 1);
    prev = cur;
  }
  return prev[b.length]!;
}
