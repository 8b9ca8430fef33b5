/**
 * The `budgets:` section of a policy document: rate limits and spend budgets per user, service, group, model.
 * `BUDGETS_SCHEMA` is a JSON Schema (draft 2020-12 compatible) fragment the policy document schema embeds under
 * `properties.budgets`; `BudgetsSection` is its TypeScript shape. docs/budgets.md is the reference.
 */

/** What a limit counts; each has its own window (see windows.ts). */
export type BudgetMetric = 'requests_per_minute' | 'tokens_per_minute' | 'tokens_per_day' | 'spend_per_month';
export const BUDGET_METRICS: readonly BudgetMetric[] = ['requests_per_minute', 'tokens_per_minute', 'tokens_per_day', 'spend_per_month'];

/** How a limit is shared: one counter per user, per service identity, per group, per model, or one for all. */
export type BudgetPer = 'user' | 'service' | 'group' | 'model' | 'global';

export interface BudgetMatch {
  /** Principal subjects (exact or `*` globs), e.g. `user:alice@example.com`, `service:nightly-*`. */
  subjects?: string[];
  /** The principal must be in at least one of these groups. */
  groups?: string[];
  /** Client-facing model names (exact or `*` globs). */
  models?: string[];
  /**
   * MCP tool calls as `<server>/<tool>` (exact or `*` globs). A limit with this key counts MCP tool calls only; a
   * limit without it counts model requests only (docs/budgets.md#mcp-tool-calls).
   */
  mcp_tools?: string[];
}

export interface BudgetLimitSpec {
  id: string;
  description?: string;
  /** One key or a combination, e.g. `[user, model]` = one counter per user and model. Default `user`. */
  per?: BudgetPer | BudgetPer[];
  match?: BudgetMatch;
  requests_per_minute?: number;
  tokens_per_minute?: number;
  tokens_per_day?: number;
  /** US dollars per calendar month (UTC), priced with `prices`. */
  spend_per_month?: number;
}

export interface BudgetPriceSpec {
  /** Client-facing model name (exact or `*` glob); the first matching entry prices a model. */
  model: string;
  /** US dollars per million input (prompt) tokens. */
  input_per_million: number;
  /** US dollars per million output (completion) tokens. */
  output_per_million: number;
}

export interface BudgetsSection {
  /** `sliding` (default) weights the previous window so a burst at a window edge cannot double the rate; `fixed` resets at each window start. Monthly budgets are always calendar months. */
  window?: 'sliding' | 'fixed';
  prices?: BudgetPriceSpec[];
  limits?: BudgetLimitSpec[];
}

const PER = { enum: ['user', 'service', 'group', 'model', 'global'] } as const;
const NAMES = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, minItems: 1 } as const;
const POSITIVE = { type: 'number', exclusiveMinimum: 0 } as const;

export const BUDGETS_SCHEMA = {
  type: 'object',
  description: 'Rate limits and spend budgets (docs/budgets.md).',
  additionalProperties: false,
  properties: {
    window: { enum: ['sliding', 'fixed'], default: 'sliding', description: 'Counting window for per-minute and per-day limits.' },
    prices: {
      type: 'array',
      description: 'Price per model in USD per million tokens; first match wins. Models without a price count zero spend.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['model', 'input_per_million', 'output_per_million'],
        properties: {
          model: { type: 'string', minLength: 1 },
          input_per_million: { type: 'number', minimum: 0 },
          output_per_million: { type: 'number', minimum: 0 },
        },
      },
    },
    limits: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        anyOf: [
          { required: ['requests_per_minute'] }, { required: ['tokens_per_minute'] },
          { required: ['tokens_per_day'] }, { required: ['spend_per_month'] },
        ],
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
          description: { type: 'string' },
          per: { oneOf: [PER, { type: 'array', items: PER, minItems: 1, uniqueItems: true }], default: 'user' },
          match: {
            type: 'object',
            additionalProperties: false,
            properties: { subjects: NAMES, groups: NAMES, models: NAMES, mcp_tools: NAMES },
          },
          requests_per_minute: { type: 'integer', minimum: 1 },
          tokens_per_minute: { type: 'integer', minimum: 1 },
          tokens_per_day: { type: 'integer', minimum: 1 },
          spend_per_month: POSITIVE,
        },
      },
    },
  },
} as const;
