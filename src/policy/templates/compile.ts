import { RE2JS } from 're2js';
import { PARAM_NAME_PATTERN, TEMPLATE_ID_PATTERN, type TemplateParam, type TemplateSpec } from './schema.ts';

/**
 * Checks a template once (at push, and when a version is first loaded) and compiles its parameter checks.
 * Rendering is plain `{{name}}` substitution in one pass: no expressions, no code, and a value is inserted as
 * text — a value that itself contains `{{other}}` stays literal.
 */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  readonly issues: string[];
  constructor(issues: string[]) {
    super(issues.join('; '));
    this.issues = issues;
  }
}

export type ParamValue = string | number;

interface CompiledParam {
  name: string;
  spec: TemplateParam;
  required: boolean;
  pattern: RE2JS | undefined;
  maxLength: number;
}

export interface CompiledTemplate {
  readonly spec: TemplateSpec;
  /** Validates variables: unknown names, missing required, types, enum values, pattern, length, bounds. */
  values(vars: Readonly<Record<string, unknown>>): Map<string, ParamValue>;
  render(values: Map<string, ParamValue>): { system: string | undefined; messages: { role: 'user' | 'assistant'; content: string }[] };
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const DEFAULT_MAX_LENGTH = 4000;

function placeholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

function checkParam(name: string, p: TemplateParam, issues: string[]): RE2JS | undefined {
  const at = `params.${name}`;
  if (!PARAM_NAME_PATTERN.test(name)) issues.push(`${at}: parameter names are letters, digits and _`);
  if (p.type !== 'string' && p.type !== 'enum' && p.type !== 'number') issues.push(`${at}.type: must be string, enum or number`);
  if (p.type === 'enum' && (!Array.isArray(p.values) || p.values.length === 0)) issues.push(`${at}.values: an enum needs values`);
  if (p.type !== 'enum' && p.values !== undefined) issues.push(`${at}.values: only for enum`);
  if (p.type !== 'string' && (p.pattern !== undefined || p.max_length !== undefined)) issues.push(`${at}: pattern and max_length are for strings`);
  if (p.type !== 'number' && (p.minimum !== undefined || p.maximum !== undefined || p.integer !== undefined)) issues.push(`${at}: minimum, maximum and integer are for numbers`);
  let re: RE2JS | undefined;
  if (p.pattern !== undefined) {
    try {
      re = RE2JS.compile(p.pattern);
    } catch {
      issues.push(`${at}.pattern: not a valid RE2 pattern`);
    }
  }
  if (p.default !== undefined) {
    const bad = validate(name, p, p.default, re);
    if (bad) issues.push(`${at}.default: ${bad}`);
  }
  return re;
}

/** Returns a problem with one value, or undefined. Never echoes the value (it may be sensitive). */
function validate(name: string, p: TemplateParam, v: unknown, re: RE2JS | undefined): string | undefined {
  if (p.type === 'number') {
    if (typeof v !== 'number' || !Number.isFinite(v)) return `"${name}" must be a number`;
    if (p.integer && !Number.isInteger(v)) return `"${name}" must be an integer`;
    if (p.minimum !== undefined && v < p.minimum) return `"${name}" must be >= ${p.minimum}`;
    if (p.maximum !== undefined && v > p.maximum) return `"${name}" must be <= ${p.maximum}`;
    return undefined;
  }
  if (typeof v !== 'string') return `"${name}" must be a string`;
  if (p.type === 'enum') return p.values?.includes(v) ? undefined : `"${name}" must be one of: ${(p.values ?? []).join(', ')}`;
  const max = p.max_length ?? DEFAULT_MAX_LENGTH;
  if (v.length > max) return `"${name}" is longer than ${max} characters`;
  if (re && !re.matches(v)) return `"${name}" does not match the required pattern`;
  return undefined;
}

export function compileTemplate(spec: TemplateSpec): CompiledTemplate {
  const issues: string[] = [];
  if (typeof spec.id !== 'string' || !TEMPLATE_ID_PATTERN.test(spec.id)) issues.push('id: 1-64 of a-z 0-9 . _ -, starting with a letter or digit');
  if (!Array.isArray(spec.messages) || spec.messages.length === 0) issues.push('messages: at least one message');
  const params: CompiledParam[] = [];
  for (const [name, p] of Object.entries(spec.params ?? {})) {
    const pattern = checkParam(name, p, issues);
    params.push({ name, spec: p, pattern, required: p.required ?? p.default === undefined, maxLength: p.max_length ?? DEFAULT_MAX_LENGTH });
  }
  const known = new Set(params.map((p) => p.name));
  const texts = [spec.system ?? '', ...(spec.messages ?? []).map((m, i) => {
    if (m.role !== 'user' && m.role !== 'assistant') issues.push(`messages[${i}].role: user or assistant`);
    if (typeof m.content !== 'string') issues.push(`messages[${i}].content: a string`);
    return typeof m.content === 'string' ? m.content : '';
  })];
  for (const name of new Set(texts.flatMap(placeholders))) if (!known.has(name)) issues.push(`{{${name}}} is used but not declared in params`);
  if (issues.length > 0) throw new TemplateError(issues);
  const byName = new Map(params.map((p) => [p.name, p]));
  const fill = (text: string, values: Map<string, ParamValue>): string =>
    // One pass with a replacer function: `$&`-style patterns in values and `{{x}}` inside values stay literal.
    text.replace(PLACEHOLDER, (_m, name: string) => String(values.get(name) ?? ''));
  return {
    spec,
    values(vars) {
      const problems: string[] = [];
      for (const k of Object.keys(vars)) if (!byName.has(k)) problems.push(`unknown variable "${k.slice(0, 64)}"`);
      const out = new Map<string, ParamValue>();
      for (const p of params) {
        const v = Object.hasOwn(vars, p.name) ? vars[p.name] : p.spec.default;
        if (v === undefined || v === null) {
          if (p.required) problems.push(`missing required variable "${p.name}"`);
          continue;
        }
        const bad = validate(p.name, p.spec, v, p.pattern);
        if (bad) problems.push(bad);
        else out.set(p.name, v as ParamValue);
      }
      if (problems.length > 0) throw new TemplateError(problems);
      return out;
    },
    render(values) {
      return {
        system: spec.system === undefined ? undefined : fill(spec.system, values),
        messages: spec.messages.map((m) => ({ role: m.role, content: fill(m.content, values) })),
      };
    },
  };
}
