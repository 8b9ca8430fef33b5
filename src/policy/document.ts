/**
 * The policy document (YAML, policy-as-code). This JSON Schema is the single source of truth: the loader validates
 * with it, `schemas/policy.schema.json` is generated from it (a test keeps them identical) for editor validation,
 * and docs/policies.md documents every key. The `content` and `budgets` sections belong to their own
 * modules (detection, budgets): this schema only requires them to be objects.
 */
import { mcpPolicySchema, type McpSection } from './mcp.ts';
import { ruleHeadSchema } from './rule-schema.ts';

export type Effect = 'allow' | 'deny' | 'require_approval';
export type ViolationAction = 'reroute' | 'block';

export interface SubjectMatch {
  users?: string[];
  groups?: string[];
  kinds?: ('user' | 'service' | 'workload')[];
  /** Verified token claims (workload identity, IdP): claim name -> glob(s) the value must match. */
  claims?: Record<string, string | string[]>;
}

export interface ResourceMatch {
  providers?: string[];
  models?: string[];
  endpoints?: string[];
}

export interface FeatureLimits {
  tools?: boolean;
  images?: boolean;
  files?: boolean;
  streaming?: boolean;
  /** Grants only requests that invoke an approved prompt template; a free-form prompt falls through to later rules. */
  templates_only?: boolean;
  max_tokens?: number;
  temperature?: { min?: number; max?: number };
}

export interface ContextMatch {
  hours?: { from: string; to: string; timezone?: string; days?: string[] };
  clients?: string[];
  networks?: string[];
}

export interface PolicyRule {
  id: string;
  description?: string;
  effect: Effect;
  subjects?: SubjectMatch;
  resources?: ResourceMatch;
  context?: ContextMatch;
  /** Limits of what an allow / require_approval rule grants; a request beyond them is not granted by this rule. */
  features?: FeatureLimits;
  /** Match only at these sensitivity levels. */
  sensitivity?: string[];
  /** A CEL condition (https://cel.dev) over `principal`, `request`, `context`, `sensitivity`, `findings`. */
  when?: string;
  /** What happens when the request's sensitivity may not go to the requested model. */
  on_sensitivity_violation?: ViolationAction;
  /** Options for the approvals module (approver groups, mode, quorum …); passed through untouched. */
  approval?: Record<string, unknown>;
}

export interface SensitivitySection {
  /** Ordered from least to most sensitive. */
  levels: string[];
  default?: string;
  /** Finding type (or glob, e.g. `SECRET_*`) -> level. */
  findings?: Record<string, string>;
  /** Where clients may label a request (they can raise the derived level, never lower it). */
  labels?: { header?: boolean; metadata?: boolean };
  /** Level -> model globs allowed to receive it. A level not listed may go to any model. */
  models?: Record<string, string[]>;
}

export interface RoutingSection {
  /** Level -> the (client-facing) model to reroute to when the requested model may not see that level. */
  reroute?: Record<string, string>;
  /** Default when a rule does not say. */
  on_sensitivity_violation?: ViolationAction;
}

export interface PolicyDocument {
  version: 1;
  name?: string;
  description?: string;
  defaults?: { effect?: 'allow' | 'deny' };
  sensitivity?: SensitivitySection;
  routing?: RoutingSection;
  rules: PolicyRule[];
  content?: Record<string, unknown>;
  budgets?: Record<string, unknown>;
  /** MCP servers, methods and tools (src/policy/mcp.ts, docs/policies.md#mcp). */
  mcp?: McpSection;
}

const strings = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const level = { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' } as const;
const hhmm = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' } as const;
const violation = { enum: ['reroute', 'block'] } as const;
const section = { type: 'object', description: 'owned by another module; validated there' } as const;

export const policySchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://portcullis.dev/schemas/policy.json',
  title: 'Portcullis policy',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'rules'],
  properties: {
    version: { const: 1, description: 'format version of this document' },
    name: { type: 'string', maxLength: 200 },
    description: { type: 'string', maxLength: 4000 },
    defaults: {
      type: 'object', additionalProperties: false,
      properties: { effect: { enum: ['allow', 'deny'], default: 'deny', description: 'when no rule matches (default deny)' } },
    },
    sensitivity: {
      type: 'object', additionalProperties: false, required: ['levels'],
      properties: {
        levels: { type: 'array', minItems: 1, uniqueItems: true, items: level, description: 'least to most sensitive' },
        default: level,
        findings: { type: 'object', additionalProperties: level, description: 'finding type or glob -> level' },
        labels: {
          type: 'object', additionalProperties: false,
          properties: { header: { type: 'boolean', default: true }, metadata: { type: 'boolean', default: true } },
        },
        models: { type: 'object', additionalProperties: strings, description: 'level -> model globs allowed to receive it' },
      },
    },
    routing: {
      type: 'object', additionalProperties: false,
      properties: {
        reroute: { type: 'object', additionalProperties: { type: 'string', minLength: 1 }, description: 'level -> model to reroute to' },
        on_sensitivity_violation: { ...violation, default: 'block' },
      },
    },
    rules: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['id', 'effect'],
        properties: {
          ...ruleHeadSchema,
          resources: {
            type: 'object', additionalProperties: false,
            properties: { providers: strings, models: strings, endpoints: strings },
          },
          context: {
            type: 'object', additionalProperties: false,
            properties: {
              hours: {
                type: 'object', additionalProperties: false, required: ['from', 'to'],
                properties: {
                  from: hhmm, to: hhmm, timezone: { type: 'string', minLength: 1 },
                  days: { type: 'array', items: { enum: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] } },
                },
              },
              clients: strings,
              networks: strings,
            },
          },
          features: {
            type: 'object', additionalProperties: false,
            properties: {
              tools: { type: 'boolean' }, images: { type: 'boolean' }, files: { type: 'boolean' }, streaming: { type: 'boolean' },
              templates_only: { type: 'boolean', description: 'grant only approved prompt template invocations' },
              max_tokens: { type: 'integer', minimum: 1 },
              temperature: {
                type: 'object', additionalProperties: false,
                properties: { min: { type: 'number', minimum: 0 }, max: { type: 'number', minimum: 0 } },
              },
            },
          },
          sensitivity: { type: 'array', items: level },
          when: { type: 'string', minLength: 1, maxLength: 4000 },
          on_sensitivity_violation: violation,
          approval: { type: 'object' },
        },
      },
    },
    content: section,
    budgets: section,
    mcp: mcpPolicySchema,
  },
} as const;
