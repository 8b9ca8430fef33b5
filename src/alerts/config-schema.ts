import { WEBHOOKS_SCHEMA } from '../approvals/config-schema.ts';

/**
 * `alerts:` config section (docs/alerts.md, docs/configuration.md#keys). Rules live in the gateway config, not in
 * the policy document: they name webhook receivers (whose headers carry secrets, resolved from references) and
 * page people, which is the security team's operation of the gateway rather than policy authors' decisions about
 * requests; and every replica must evaluate the same rules, which the config (deployed with the fleet and kept in
 * version control) guarantees, while a policy version may be activated in observe mode on some replicas first.
 */
export const RULE_KINDS = ['refusals', 'findings', 'approvals_denied', 'spend', 'new_client', 'new_network'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type AlertSeverity = (typeof SEVERITIES)[number];
export const ALERT_RESPONSES = ['none', 'suspend', 'require_approval'] as const;
export type AlertResponse = (typeof ALERT_RESPONSES)[number];

export interface AlertRuleConfig {
  id: string;
  kind: RuleKind;
  description?: string;
  /** Count (refusals, findings, approvals_denied) or US dollars (spend); unused by new_client and new_network. */
  threshold?: number;
  window_minutes?: number;
  /** Whose exchanges are counted together: the caller (`subject`), each of its groups, or everyone. */
  by?: 'subject' | 'group' | 'all';
  /** refusals: only these error codes. */
  codes?: string[];
  /** findings: only these detector types. */
  finding_types?: string[];
  severity: AlertSeverity;
  /** What a firing does to the identity: nothing, refuse it (`suspend`), or hold its requests for approval. */
  respond: AlertResponse;
  /** respond require_approval: the groups whose members approve the identity's requests. */
  approvers?: string[];
}

export interface AlertsConfig {
  enabled: boolean;
  eval_interval_ms: number;
  batch_size: number;
  suspension_refresh_ms: number;
  webhooks: { url: string; format: 'json' | 'slack'; headers?: Record<string, string> }[];
  rules: AlertRuleConfig[];
}

export const ALERTS_DEFAULTS: AlertsConfig = { enabled: true, eval_interval_ms: 1_000, batch_size: 500, suspension_refresh_ms: 2_000, webhooks: [], rules: [] };

export const alertsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'alert rules that open investigations (docs/alerts.md)',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'evaluate the rules as exchanges finish' },
    eval_interval_ms: { type: 'integer', minimum: 100, maximum: 600_000, default: 1_000, description: 'how often finished exchanges are evaluated' },
    batch_size: { type: 'integer', minimum: 10, maximum: 10_000, default: 500, description: 'exchanges evaluated per transaction' },
    suspension_refresh_ms: { type: 'integer', minimum: 100, maximum: 60_000, default: 2_000, description: 'how often each replica re-reads the suspended identities' },
    webhooks: WEBHOOKS_SCHEMA,
    rules: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'kind'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,62}$' },
          kind: { enum: RULE_KINDS },
          description: { type: 'string', maxLength: 500 },
          threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1e9 },
          window_minutes: { type: 'integer', minimum: 1, maximum: 10_080 },
          by: { enum: ['subject', 'group', 'all'] },
          codes: { type: 'array', items: { type: 'string', pattern: '^[a-z_]{1,64}$' } },
          finding_types: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } },
          severity: { enum: SEVERITIES, default: 'medium' },
          respond: { enum: ALERT_RESPONSES, default: 'none' },
          approvers: {
            type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 },
            description: 'respond require_approval: groups whose members approve the identity\'s requests (never the identity itself)',
          },
        },
      },
    },
  },
} as const;

/** What the JSON Schema cannot say; each issue names the key path. */
export function checkAlertsConfig(c: AlertsConfig): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const add = (path: string, message: string): void => void issues.push({ path, message });
  const seen = new Set<string>();
  c.rules.forEach((r, i) => {
    const at = `alerts.rules[${i}]`;
    if (seen.has(r.id)) add(`${at}.id`, `duplicate rule id ${r.id}`);
    seen.add(r.id);
    const counted = r.kind === 'refusals' || r.kind === 'findings' || r.kind === 'approvals_denied' || r.kind === 'spend';
    if (counted && r.threshold === undefined) add(`${at}.threshold`, `required for kind ${r.kind}`);
    if (counted && r.kind !== 'spend' && r.window_minutes === undefined) add(`${at}.window_minutes`, `required for kind ${r.kind}`);
    if (!counted && (r.threshold !== undefined || r.window_minutes !== undefined)) add(`${at}`, `kind ${r.kind} fires on the first new value; threshold and window_minutes do not apply`);
    if (r.kind === 'spend' && r.window_minutes !== undefined) add(`${at}.window_minutes`, `spend is counted per UTC day`);
    if (!counted && r.by !== undefined && r.by !== 'subject') add(`${at}.by`, `kind ${r.kind} is per identity`);
    if (r.respond !== 'none' && (r.by ?? (r.kind === 'spend' ? 'group' : 'subject')) !== 'subject') {
      add(`${at}.respond`, r.respond === 'suspend' ? 'suspend needs a rule by subject (one identity to suspend)' : 'require_approval needs a rule by subject (one identity to hold for approval)');
    }
    if (r.respond === 'require_approval' && !r.approvers) add(`${at}.approvers`, `required for respond require_approval (the groups that approve the identity's requests)`);
    if (r.respond !== 'require_approval' && r.approvers) add(`${at}.approvers`, `only for respond require_approval`);
    if (r.codes && r.kind !== 'refusals') add(`${at}.codes`, `only for kind refusals`);
    if (r.finding_types && r.kind !== 'findings') add(`${at}.finding_types`, `only for kind findings`);
  });
  return issues;
}
