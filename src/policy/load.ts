import { Ajv } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
// The config loader's YAML locators (key path -> line) serve policy files too.
import { issueFromAjv, lineOf } from '../config/loader.ts';
import { policySchema, type PolicyDocument, type PolicyRule } from './document.ts';
import { compilePolicy, PolicyCompileError, type PolicyEngine } from './engine.ts';
import { PolicyError, type PolicyIssue } from './errors.ts';
import { compileMcpSection, McpPolicyError, type McpEngine } from './mcp.ts';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile<PolicyDocument>(policySchema);

/** Extension points: sections owned by other modules validate themselves when the lead wires them in. */
export type SectionValidator = (section: unknown) => PolicyIssue[];
/** Checks one rule for what other modules own (e.g. its `approval:` options); paths relative to the rule. */
export type RuleCheck = (rule: Pick<PolicyRule, 'id' | 'effect' | 'approval'>) => PolicyIssue[];

export interface LoadOptions {
  /** Name used in messages (file path, or `version pv_…`). */
  file: string;
  /** The version id the compiled engine reports. */
  version: string;
  sections?: Partial<Record<'content' | 'budgets', SectionValidator>>;
  ruleChecks?: readonly RuleCheck[];
}

export interface LoadedPolicy {
  document: PolicyDocument;
  engine: PolicyEngine;
  /** The `mcp:` section compiled (an empty section follows the document's default effect). */
  mcp: McpEngine;
}

/**
 * YAML text -> validated document -> compiled engine. Every problem is reported at once, naming the file, the
 * line and the key path (`rules[2].when`), so `portcullis policy validate` and push reject a broken file clearly.
 */
export function loadPolicy(text: string, o: LoadOptions): LoadedPolicy {
  const lc = new LineCounter();
  const yaml = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (yaml.errors.length > 0) {
    throw new PolicyError(o.file, yaml.errors.map((e) => ({ path: '(yaml)', message: e.message.split('\n')[0] ?? e.message, line: e.linePos?.[0].line })));
  }
  const data: unknown = yaml.toJS() ?? {};
  if (!validate(data)) throw new PolicyError(o.file, (validate.errors ?? []).map((e) => issueFromAjv(e, yaml, lc)));
  const extra: PolicyIssue[] = [];
  for (const [key, check] of Object.entries(o.sections ?? {})) {
    const section = (data as unknown as Record<string, unknown>)[key];
    if (section !== undefined && check) extra.push(...check(section).map((i) => ({ ...i, path: `${key}.${i.path}` })));
  }
  data.rules.forEach((rule, i) => {
    for (const check of o.ruleChecks ?? []) extra.push(...check(rule).map((issue) => ({ ...issue, path: `rules[${i}].${issue.path}` })));
  });
  // MCP rules share the head of a rule (id, effect, subjects, approval): the same checks apply to them.
  (data.mcp?.rules ?? []).forEach((rule, i) => {
    for (const check of o.ruleChecks ?? []) extra.push(...check(rule).map((issue) => ({ ...issue, path: `mcp.rules[${i}].${issue.path}` })));
  });
  let engine: PolicyEngine | undefined;
  try {
    engine = compilePolicy(data, o.version);
  } catch (err) {
    if (!(err instanceof PolicyCompileError)) throw err;
    extra.push(...err.issues);
  }
  let mcp: McpEngine | undefined;
  try {
    mcp = compileMcpSection(data.mcp, data.defaults?.effect, o.version);
  } catch (err) {
    if (!(err instanceof McpPolicyError)) throw err;
    extra.push(...err.issues.map((i) => ({ ...i, path: `mcp.${i.path}` })));
  }
  if (extra.length > 0 || !engine || !mcp) throw new PolicyError(o.file, extra.map((i) => ({ ...i, line: i.line ?? lineOf(yaml, lc, i.path) })));
  return { document: data, engine, mcp };
}
