import { celEnv, CelScalar, isCelError, listType, mapType, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { RE2JS } from 're2js';

/**
 * Rule conditions are CEL (https://cel.dev, the expression language of Envoy, Kubernetes admission policies and
 * Google IAM conditions): side-effect free, always terminating, no I/O, with a published spec. `@bufbuild/cel` is a
 * pure-JS implementation conforming to that spec. `matches()` runs on RE2 semantics (re2js) so a policy author
 * cannot write a catastrophically backtracking regular expression.
 */
const DYN_MAP = mapType(CelScalar.STRING, CelScalar.DYN);
const env = celEnv({
  funcs: strings,
  re2: { compile: (pattern: string) => RE2JS.compile(pattern) },
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
export type Condition = (b: CelBindings) => boolean | Error;

const SAMPLE: CelBindings = {
  principal: { subject: 'user:sample', kind: 'user', groups: ['g'], claims: {} },
  request: { provider: 'p', model: 'm', endpoint: 'openai.chat', stream: false, tools: false, images: false, files: false, max_tokens: 1, temperature: 1, template: false },
  context: { hour: 12, minute: 0, weekday: 'mon', client_ip: '127.0.0.1', user_agent: 'ua' },
  sensitivity: 'public',
  findings: [],
};

/**
 * Parses and plans once. Rejects syntax errors, unknown variables or functions (found by a dry run on a sample
 * input) and non-boolean results; a missing map key at run time is an evaluation error (deny), not a crash.
 */
export function compileCondition(src: string): Condition {
  let run: (b: never) => unknown;
  try {
    run = plan(env, parse(src));
  } catch (err) {
    throw new TypeError(`CEL syntax error: ${firstLine(err)}`);
  }
  const dry = run(SAMPLE as never);
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

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}
