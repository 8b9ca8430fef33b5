/**
 * Approved prompt templates: a template is a versioned, immutable prompt with typed parameters. Its file format
 * (YAML or JSON, pushed with `portcullis templates push`) is `TemplateSpec`; `TEMPLATE_SCHEMA` is its JSON Schema.
 * docs/templates.md is the reference.
 */
export type TemplateParamType = 'string' | 'enum' | 'number';

export interface TemplateParam {
  type: TemplateParamType;
  description?: string;
  /** Default true unless a `default` is given. */
  required?: boolean;
  default?: string | number;
  /** string: an RE2 pattern the whole value must match (linear time: no catastrophic backtracking). */
  pattern?: string;
  /** string: maximum length in characters (default 4000). */
  max_length?: number;
  /** enum: the allowed values. */
  values?: string[];
  /** number: bounds and integrality. */
  minimum?: number;
  maximum?: number;
  integer?: boolean;
}

export interface TemplateMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface TemplateSpec {
  id: string;
  description?: string;
  params?: Record<string, TemplateParam>;
  /** System prompt (OpenAI: a leading system message / Responses `instructions`; Anthropic: `system`). */
  system?: string;
  messages: TemplateMessage[];
}

/** A stored, immutable version. */
export interface TemplateRecord {
  id: string;
  version: number;
  description: string | null;
  spec: TemplateSpec;
  /** SHA-256 of the canonical spec: pushing identical content again returns the existing version. */
  hash: string;
  createdAt: number;
  createdBy: string;
}

export const TEMPLATE_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const PARAM_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export const TEMPLATE_SCHEMA = {
  title: 'Portcullis prompt template',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'messages'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
    description: { type: 'string', maxLength: 1000 },
    params: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['type'],
        properties: {
          type: { enum: ['string', 'enum', 'number'] },
          description: { type: 'string' },
          required: { type: 'boolean' },
          default: { type: ['string', 'number'] },
          pattern: { type: 'string' },
          max_length: { type: 'integer', minimum: 1, maximum: 100000 },
          values: { type: 'array', items: { type: 'string' }, minItems: 1 },
          minimum: { type: 'number' },
          maximum: { type: 'number' },
          integer: { type: 'boolean' },
        },
      },
    },
    system: { type: 'string' },
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['role', 'content'],
        properties: { role: { enum: ['user', 'assistant'] }, content: { type: 'string' } },
      },
    },
  },
} as const;
