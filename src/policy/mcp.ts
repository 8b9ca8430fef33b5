import type { Effect, SubjectMatch } from './document.ts';
import { declareBindings, prepareBindings, compileCondition, type Condition } from './cel.ts';
import { PathError, type PolicyIssue } from './errors.ts';
import type { PolicyInput } from './input.ts';
import { stringMatcher, wallClock, type StringMatcher } from './matchers.ts';
import type { Reason } from './reasons.ts';
import { compileSubject } from './rules.ts';
import { ruleHeadSchema, stringList } from './rule-schema.ts';
import { isRawJson, numberValue } from '../core/json-exact.ts';

/**
 * The policy document's `mcp:` section: who may use which MCP server, method and tool, with CEL conditions over
 * the call (docs/policies.md#mcp). Pure: compiled once per policy version, evaluated per JSON-RPC request.
 *
 * A rule with `tools:` is a tool rule: it decides `tools/call` (and what `tools/list` shows). For the other methods
 * (initialize, tools/list, resources/*, …) a tool rule that would allow counts as access to the server, and a
 * tool rule that would deny does not apply — denying one tool never cuts off the whole server.
 */
export interface McpRule {
  id: string;
  description?: string;
  effect: Effect;
  subjects?: SubjectMatch;
  servers?: string[];
  methods?: string[];
  tools?: string[];
  /** Resource URIs (globs): decides `resources/read` and `resources/subscribe`, filters `resources/list`. */
  resources?: string[];
  /** Prompt names (globs): decides `prompts/get`, filters `prompts/list`. */
  prompts?: string[];
  when?: string;
  approval?: Record<string, unknown>;
}

export interface McpSection {
  defaults?: { effect?: 'allow' | 'deny' };
  rules?: McpRule[];
}


export const mcpPolicySchema = {
  type: 'object', additionalProperties: false,
  description: 'MCP servers, methods and tools (docs/policies.md#mcp)',
  properties: {
    defaults: {
      type: 'object', additionalProperties: false,
      properties: { effect: { enum: ['allow', 'deny'], description: 'when no MCP rule matches (default: the document defaults.effect)' } },
    },
    rules: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['id', 'effect'],
        properties: {
          ...ruleHeadSchema,
          servers: { ...stringList, description: 'server names (globs) from the config mcp.servers' },
          methods: { ...stringList, description: 'JSON-RPC methods (globs), e.g. tools/call, resources/*' },
          tools: { ...stringList, description: 'tool names (globs); makes the rule a tool rule' },
          resources: { ...stringList, description: 'resource URIs (globs); decides resources/read, resources/subscribe and completion of a template' },
          prompts: { ...stringList, description: 'prompt names (globs); decides prompts/get and completion of a prompt' },
          when: { type: 'string', minLength: 1, maxLength: 4000 },
          approval: { type: 'object' },
        },
      },
    },
  },
} as const;

const RESOURCE_METHODS = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe']);

/**
 * The resource URI or prompt name a request names, for `resources:` and `prompts:` globs. A request of such a
 * method without one is decided with an empty name, which no glob but `*` matches (fail closed).
 */
export function mcpTarget(method: string, params: Record<string, unknown> | undefined): McpInput['target'] {
  if (RESOURCE_METHODS.has(method)) return { kind: 'resources', name: typeof params?.uri === 'string' ? params.uri : '' };
  if (method === 'prompts/get') return { kind: 'prompts', name: typeof params?.name === 'string' ? params.name : '' };
  // Completing a prompt's argument or a template's variable reveals what the prompt or resource offers: same globs.
  if (method === 'completion/complete') {
    const ref = typeof params?.ref === 'object' && params.ref !== null ? (params.ref as Record<string, unknown>) : {};
    return ref.type === 'ref/resource'
      ? { kind: 'resources', name: typeof ref.uri === 'string' ? ref.uri : '' }
      : { kind: 'prompts', name: ref.type === 'ref/prompt' && typeof ref.name === 'string' ? ref.name : '' };
  }
  return undefined;
}

/** One JSON-RPC request as the engine sees it (already extracted; the engine does no I/O). */
export interface McpInput {
  principal: PolicyInput['principal'];
  server: string;
  method: string;
  /** `tools/call` only. */
  tool?: { name: string; arguments: Record<string, unknown>; hash: string | null } | undefined;
  /** `resources/read`, `resources/subscribe`, `resources/unsubscribe`: the URI; `prompts/get`: the prompt name. */
  target?: { kind: 'resources' | 'prompts'; name: string } | undefined;
  context: PolicyInput['context'];
  /** Finding types detected in the arguments (values are never part of the input). */
  findings: readonly { type: string }[];
}

export interface McpDecision {
  effect: Effect;
  reasons: Reason[];
  matchedRuleIds: string[];
  policyVersion: string;
}

export interface McpEngine {
  decide(input: McpInput): McpDecision;
  /** Whether `tools/list` shows this tool: not denied outright, and some rule may grant it (conditions unknown there). */
  visible(principal: PolicyInput['principal'], server: string, tool: string): boolean;
  /**
   * A request from a server to the agent (`sampling/createMessage`, `elicitation/create`): denied unless an allow
   * rule names the method in `methods` (not the bare `*`) — the document's or section's default allow does not
   * count, so the default stays deny; an approval rule denies too (a server request cannot be held).
   */
  serverRequest(input: McpInput): McpDecision;
  /** The same for a resource URI in `resources/list` or a prompt in `prompts/list`. */
  visibleTarget(principal: PolicyInput['principal'], server: string, kind: 'resources' | 'prompts', name: string): boolean;
}

interface CompiledMcpRule {
  id: string;
  effect: Effect;
  toolRule: boolean;
  /** Has `tools`, `resources` or `prompts`: it decides only requests naming one of those. */
  targetRule: boolean;
  /** `methods` is given and is not just `*`: the rule names the methods it is about. */
  explicitMethods: boolean;
  subject(p: PolicyInput['principal']): boolean;
  servers: StringMatcher | undefined;
  methods: StringMatcher | undefined;
  tools: StringMatcher | undefined;
  resources: StringMatcher | undefined;
  prompts: StringMatcher | undefined;
  when: Condition | undefined;
}

/** Semantic checks of a schema-valid section, with key paths relative to `mcp`. */
export function compileMcpSection(section: McpSection | undefined, docDefault: 'allow' | 'deny' | undefined, version: string): McpEngine {
  const issues: PolicyIssue[] = [];
  const seen = new Set<string>();
  const rules: CompiledMcpRule[] = [];
  (section?.rules ?? []).forEach((r, i) => {
    if (seen.has(r.id)) issues.push({ path: `rules[${i}].id`, message: `duplicate rule id "${r.id}"` });
    seen.add(r.id);
    try {
      rules.push(compileMcpRule(r, i));
    } catch (err) {
      if (err instanceof PathError) issues.push({ path: err.path, message: err.message });
      else throw err;
    }
  });
  if (issues.length > 0) throw new McpPolicyError(issues);
  const defaultAllow = (section?.defaults?.effect ?? docDefault ?? 'deny') === 'allow';
  return {
    decide: (input) => decide(rules, defaultAllow, version, input),
    serverRequest(input) {
      const d = decide(rules, false, version, input);
      if (d.effect === 'allow' && d.matchedRuleIds.some((id) => rules.find((r) => r.id === id)?.explicitMethods)) return d;
      if (d.effect === 'deny') return d;
      return { effect: 'deny', reasons: [{ code: 'no_matching_rule' }], matchedRuleIds: [], policyVersion: version };
    },
    visible(p, server, tool) {
      const applies = (r: CompiledMcpRule): boolean => r.subject(p) && (!r.servers || r.servers(server)) && (!r.methods || r.methods('tools/call'))
        && (r.tools ? r.tools(tool) : !r.targetRule);
      if (rules.some((r) => r.effect === 'deny' && !r.when && applies(r))) return false;
      return defaultAllow || rules.some((r) => r.effect !== 'deny' && applies(r));
    },
    visibleTarget(p, server, kind, name) {
      const method = kind === 'resources' ? 'resources/read' : 'prompts/get';
      const applies = (r: CompiledMcpRule): boolean => {
        const m = r[kind];
        return r.subject(p) && (!r.servers || r.servers(server)) && (!r.methods || r.methods(method)) && (m ? m(name) : !r.targetRule);
      };
      if (rules.some((r) => r.effect === 'deny' && !r.when && applies(r))) return false;
      return defaultAllow || rules.some((r) => r.effect !== 'deny' && applies(r));
    },
  };
}

export class McpPolicyError extends Error {
  override readonly name = 'McpPolicyError';
  readonly issues: PolicyIssue[];
  constructor(issues: PolicyIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.issues = issues;
  }
}

function compileMcpRule(r: McpRule, i: number): CompiledMcpRule {
  let when: Condition | undefined;
  if (r.when !== undefined) {
    try {
      when = compileCondition(r.when, MCP_BINDINGS);
    } catch (err) {
      throw new PathError(`rules[${i}].when`, err instanceof Error ? err.message : String(err));
    }
  }
  return {
    id: r.id, effect: r.effect, toolRule: r.tools !== undefined,
    targetRule: r.tools !== undefined || r.resources !== undefined || r.prompts !== undefined,
    explicitMethods: r.methods !== undefined && !r.methods.includes('*'),
    subject: compileSubject(r.subjects),
    servers: stringMatcher(r.servers), methods: stringMatcher(r.methods), tools: stringMatcher(r.tools),
    resources: stringMatcher(r.resources), prompts: stringMatcher(r.prompts),
    when,
  };
}

const utc = wallClock('UTC');

function decide(rules: readonly CompiledMcpRule[], defaultAllow: boolean, version: string, input: McpInput): McpDecision {
  const out = (effect: Effect, reasons: Reason[], matched: string[]): McpDecision => ({ effect, reasons, matchedRuleIds: matched, policyVersion: version });
  const tool = input.tool;
  let bindings: ReturnType<typeof prepareBindings> | undefined;
  const denies: string[] = [];
  const grants: CompiledMcpRule[] = [];
  const errors: Reason[] = [];
  for (const r of rules) {
    if (!r.subject(input.principal) || (r.servers && !r.servers(input.server)) || (r.methods && !r.methods(input.method))) continue;
    // A request naming a tool, resource or prompt is decided by the rules for that kind (and untargeted rules).
    const kindMatcher = tool ? r.tools : input.target ? r[input.target.kind] : undefined;
    if (r.targetRule && !tool && !input.target) {
      // Server access for the other methods: a targeted rule grants it, never takes it away (see the type's comment).
      if (r.effect !== 'deny') grants.push(r);
      continue;
    }
    if (r.targetRule && !kindMatcher) continue;
    if (kindMatcher && !kindMatcher(tool ? tool.name : input.target!.name)) continue;
    if (r.when) {
      const v = r.when((bindings ??= prepareBindings(celBindings(input))));
      if (v instanceof Error) {
        errors.push({ code: 'evaluation_error', detail: 'condition', ruleId: r.id });
        continue;
      }
      if (!v) continue;
    }
    if (r.effect === 'deny') denies.push(r.id);
    else grants.push(r);
  }
  // Fail closed: a condition that cannot be evaluated denies, whatever the other rules say.
  if (errors.length > 0) return out('deny', errors, errors.map((e) => e.ruleId!));
  if (denies.length > 0) return out('deny', denies.map((id) => ({ code: 'denied_by_rule', ruleId: id })), denies);
  if (grants.length === 0) return defaultAllow ? out('allow', [{ code: 'default_allow' }], []) : out('deny', [{ code: 'no_matching_rule' }], []);
  const approvals = grants.filter((r) => r.effect === 'require_approval' && (!r.targetRule || tool || input.target));
  const deciding = approvals.length > 0 ? approvals : grants;
  const effect: Effect = approvals.length > 0 ? 'require_approval' : 'allow';
  return out(effect, deciding.map((r) => ({ code: effect === 'allow' ? 'allowed_by_rule' : 'approval_required_by_rule', ruleId: r.id })), grants.map((r) => r.id));
}

/**
 * CEL variables for MCP rules: `request.{endpoint, method, server, tool, arguments, argument_text, tool_hash}`.
 * `argument_text` is every key and string of the arguments, JSON found inside strings decoded too, one per line:
 * a rule written against it cannot be dodged by nesting a value deeper or smuggling it as a JSON string.
 */
/** What an `mcp:` rule's condition may read: checked at validate/push time like LLM rules (cel-fields.ts). */
const MCP_BINDINGS = declareBindings({
  principal: { subject: 'user:sample', kind: 'user', groups: ['g'], claims: {} },
  request: { endpoint: 'mcp.tools_call', method: 'tools/call', server: 's', tool: 't', arguments: {}, tool_hash: 'h', argument_text: '', uri: '', prompt: '' },
  context: { hour: 12, minute: 0, weekday: 'mon', client_ip: '127.0.0.1', user_agent: 'ua' },
  sensitivity: '',
  findings: [],
});

function celBindings(input: McpInput): Parameters<typeof prepareBindings>[0] {
  const p = input.principal;
  const clock = utc(input.context.now);
  return {
    principal: { subject: p.subject, kind: p.kind, groups: [...p.groups], claims: p.claims ?? {} },
    request: {
      endpoint: input.tool ? 'mcp.tools_call' : `mcp.${input.method.replace(/\//g, '_')}`,
      method: input.method, server: input.server,
      tool: input.tool?.name ?? '', arguments: celNumbers(input.tool?.arguments ?? {}), tool_hash: input.tool?.hash ?? '',
      argument_text: input.tool ? argumentText(input.tool.arguments) : '',
      uri: input.target?.kind === 'resources' ? input.target.name : '',
      prompt: input.target?.kind === 'prompts' ? input.target.name : '',
    },
    context: {
      hour: Math.floor(clock.minutes / 60), minute: clock.minutes % 60, weekday: clock.day,
      client_ip: input.context.clientIp ?? '', user_agent: input.context.userAgent ?? '',
    },
    sensitivity: '',
    findings: input.findings.map((f) => f.type),
  };
}

const MAX_DEPTH = 16;

/**
 * Arguments as CEL reads them: a number kept as the client's exact text (src/core/json-exact.ts; it reaches the
 * server unchanged) is compared by its double value, like the LLM endpoints' numbers (request-features.ts).
 * The same object when it holds none (the common case: nothing copied).
 */
function celNumbers<T>(v: T, depth = 0): T {
  if (isRawJson(v)) return numberValue(v) as T;
  if (depth > MAX_DEPTH || v === null || typeof v !== 'object') return v;
  let copy: Record<string, unknown> | unknown[] | undefined;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const y = celNumbers(x, depth + 1);
    if (y === x) continue;
    copy ??= Array.isArray(v) ? [...(v as unknown[])] : { ...(v as Record<string, unknown>) };
    (copy as Record<string, unknown>)[k] = y;
  }
  return (copy ?? v) as T;
}

export function argumentText(value: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    if (typeof v === 'string') {
      out.push(v);
      const t = v.trimStart();
      if (t.startsWith('{') || t.startsWith('[') || t.startsWith('"')) {
        try {
          walk(JSON.parse(v), depth + 1);
        } catch {
          // not JSON: the text itself was kept
        }
      }
    } else if (isRawJson(v)) out.push(v.rawJSON);
    else if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push(k);
        walk(x, depth + 1);
      }
    } else if (typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
  };
  walk(value, 0);
  return out.join('\n');
}
