import { celEnv, celMap, CelScalar, isCelError, listType, mapType, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { RE2JS } from 're2js';
import { fieldProblem, shapeOf } from './cel-fields.ts';

/**
 * Rule conditions are CEL (https://cel.dev, the expression language of Envoy, Kubernetes admission policies and
 * Google IAM conditions): side-effect free, always terminating, no I/O, with a published spec. `@bufbuild/cel` is a
 * pure-JS implementation conforming to that spec. `matches()` runs on RE2 semantics (re2js) so a policy author
 * cannot write a catastrophically backtracking regular expression.
 */
const DYN_MAP = mapType(CelScalar.STRING, CelScalar.DYN);

/**
 * `matches()` patterns are compiled once (the library asks on every call). Bounded: a pattern taken from the input
 * (`x.matches(principal.claims.re)`) cannot grow it without limit.
 */
const MAX_PATTERNS = 512;
const patterns = new Map<string, RE2JS>();
function compilePattern(pattern: string): RE2JS {
  let re = patterns.get(pattern);
  if (!re) {
    if (patterns.size >= MAX_PATTERNS) patterns.clear();
    re = RE2JS.compile(pattern);
    patterns.set(pattern, re);
  }
  return re;
}

const env = celEnv({
  funcs: strings,
  re2: { compile: compilePattern },
  variables: {
    principal: DYN_MAP,
    request: DYN_MAP,
    context: DYN_MAP,
    sensitivity: CelScalar.STRING,
    findings: listType(CelScalar.STRING),
  },
});

export interface CelBindings {
  principal: Record<string, unknown>;
  request: Record<string, unknown>;
  context: Record<string, unknown>;
  sensitivity: string;
  findings: string[];
}

/** true/false, or an Error (evaluation errors fail closed in the engine). */
export type Condition = (b: PreparedBindings) => boolean | Error;

const SAMPLE: CelBindings = {
  principal: { subject: 'user:sample', kind: 'user', groups: ['g'], claims: {} },
  request: { provider: 'p', model: 'm', endpoint: 'openai.chat', stream: false, tools: false, images: false, files: false, max_tokens: 1, temperature: 1, template: false },
  context: { hour: 12, minute: 0, weekday: 'mon', client_ip: '127.0.0.1', user_agent: 'ua' },
  sensitivity: 'public',
  findings: [],
};
/** The declared fields of `principal`, `request` and `context` (cel-fields.ts): what the engine binds. */
export const CEL_SHAPE = shapeOf(SAMPLE as unknown as Record<string, unknown>);

/**
 * What a condition is checked against at compile time: the declared fields (unknown ones are errors with file:line)
 * and a sample input for the dry run. LLM rules bind the request of an LLM call; the `mcp:` section binds a tool
 * call's (policy/mcp.ts), each with its own declaration.
 */
export interface ConditionBindings {
  shape: ReturnType<typeof shapeOf>;
  prepared: () => PreparedBindings;
}

/** Declares the bindings of a kind of rule from a sample input (its field names and kinds). */
export function declareBindings(sample: CelBindings): ConditionBindings {
  let prepared: PreparedBindings | undefined;
  return { shape: shapeOf(sample as unknown as Record<string, unknown>), prepared: () => (prepared ??= prepareBindings(sample)) };
}

const LLM_BINDINGS: ConditionBindings = declareBindings(SAMPLE);

/**
 * Parses and plans once. Rejects syntax errors, fields the bindings do not have (`request.modle`, cel-fields.ts),
 * unknown variables or functions (found by a dry run on a sample input) and non-boolean results; a missing map key
 * at run time (an absent claim) is an evaluation error (deny), not a crash.
 */
export function compileCondition(src: string, bindings: ConditionBindings = LLM_BINDINGS): Condition {
  let run: (b: never) => unknown;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(src);
    run = plan(env, parsed);
  } catch (err) {
    throw new TypeError(`CEL syntax error: ${firstLine(err)}`);
  }
  const unknown = fieldProblem(parsed, src, bindings.shape);
  if (unknown) throw new TypeError(`CEL error: ${unknown}`);
  const dry = run(bindings.prepared() as never);
  if (isCelError(dry)) {
    const msg = String((dry as unknown as Error).message ?? dry);
    if (/unresolved attribute|unbound function|no such overload|no matching overload/i.test(msg)) throw new TypeError(`CEL error: ${msg}`);
  } else if (typeof dry !== 'boolean') {
    throw new TypeError('CEL condition must evaluate to a boolean');
  }
  return (b) => {
    let r: unknown;
    try {
      r = run(b as never);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
    if (typeof r === 'boolean') return r;
    return isCelError(r) ? new Error(String((r as unknown as Error).message ?? 'CEL error')) : new Error('CEL condition did not return a boolean');
  };
}

/** Bindings converted to CEL values (see prepareBindings). */
export interface PreparedBindings {
  readonly principal: unknown;
  readonly request: unknown;
  readonly context: unknown;
  readonly sensitivity: string;
  readonly findings: readonly string[];
}

/**
 * The bindings as CEL maps, built once per decision and shared by all its conditions: handed plain objects, the
 * library rebuilds a Map on every variable read.
 */
export function prepareBindings(b: CelBindings): PreparedBindings {
  return {
    principal: celMap(new Map(Object.entries(b.principal) as [string, never][])),
    request: celMap(new Map(Object.entries(b.request) as [string, never][])),
    context: celMap(new Map(Object.entries(b.context) as [string, never][])),
    sensitivity: b.sensitivity,
    findings: b.findings,
  };
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}
