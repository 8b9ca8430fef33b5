// The benchmark's policy documents: `policySource(n)` is a realistic policy of n access rules (groups, models,
// endpoints, feature limits, client/network/hours context, CEL `when` conditions, sensitivity levels, approval
// rules). The bench key (group `eng`, model gpt-4o-mini, openai.chat) is allowed by rule `eng`; several other
// rules are evaluated for it, CEL included. `governed` adds the content and budgets sections.
import { stringify } from 'yaml';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];

/** Rules every bench policy has; the first six of n. */
const coreRules = [
  { id: 'no-legacy-completions', effect: 'deny', resources: { endpoints: ['openai.completions'] } },
  {
    id: 'eng', effect: 'allow', subjects: { groups: ['eng'] },
    resources: { models: ['gpt-4o*', 'claude-sonnet-*', 'llama-*'] },
    features: { images: false, temperature: { max: 1.5 } },
  },
  { id: 'no-secrets-to-hosted', effect: 'deny', when: 'findings.exists(f, f.startsWith("SECRET_")) && !request.model.startsWith("llama-")' },
  { id: 'eng-night-large', effect: 'deny', subjects: { groups: ['eng'] }, when: 'context.hour < 5 && request.max_tokens > 32000' },
  { id: 'restricted-self-hosted', effect: 'allow', subjects: { groups: ['*'] }, sensitivity: ['restricted'], resources: { models: ['llama-*'] } },
  { id: 'no-old-clients', effect: 'deny', context: { clients: ['curl/7.0*', 'python-requests/1.*'] } },
];

/** Filler rule k (for team-k groups), cycling through six kinds. */
function fillerRule(k: number, regex: boolean): Record<string, unknown> {
  const team = { groups: [`team-${k}`, `team-${k}-leads`] };
  switch (k % 6) {
    case 0:
      return { id: `team-${k}-models`, effect: 'allow', subjects: team, resources: { models: ['gpt-4o-mini', 'claude-haiku-*'] }, features: { max_tokens: 4096, tools: false } };
    case 1:
      return { id: `team-${k}-no-reasoning`, effect: 'deny', subjects: team, resources: { models: ['o1*'] } };
    case 2:
      return { id: `team-${k}-cel`, effect: 'allow', subjects: team, when: 'request.max_tokens <= 8000 && principal.subject.endsWith("@acme.example")' };
    case 3:
      return { id: `team-${k}-approval`, effect: 'require_approval', subjects: team, resources: { models: ['o3*'] }, approval: { approver_groups: ['ai-approvers'], mode: 'deferred' } };
    case 4:
      return {
        id: `team-${k}-office`, effect: 'allow', subjects: team, resources: { endpoints: ['openai.chat', 'anthropic.messages'] },
        context: { hours: { from: '08:00', to: '18:00', timezone: 'Europe/Berlin', days: WEEKDAYS }, networks: ['10.0.0.0/8', 'fd00::/8'] },
      };
    default: { // evaluated for every gpt-* request, whoever asks
      const model = regex ? `request.model.matches("^legacy-${k}-[0-9]+$")` : `request.model.startsWith("legacy-${k}-")`;
      return { id: `legacy-${k}`, effect: 'deny', subjects: { groups: ['*'] }, resources: { models: ['gpt-*'] }, when: `${model} || (context.weekday == "sun" && sensitivity == "restricted")` };
    }
  }
}

/** Every built-in detector on (the default), both directions: mask e-mail addresses and cards, flag secrets. */
export const benchContentSection = {
  rules: [
    { id: 'mask-email', types: ['EMAIL_ADDRESS'], action: 'mask' as const },
    { id: 'mask-card', types: ['CREDIT_CARD'], action: 'mask' as const, mask: 'partial' as const },
    { id: 'flag-secrets', types: ['SECRET_*'], action: 'flag' as const },
  ],
};

export interface PolicyShape {
  /** Add the content (mask e-mail and cards, flag secrets) and budgets (never reached) sections. */
  governed?: boolean;
  /** Every sixth filler rule's condition uses CEL `matches()` (RE2) rather than `startsWith()`. Default true. */
  regex?: boolean;
}

export function policySource(n: number, o: PolicyShape = {}): string {
  const filler = Array.from({ length: Math.max(0, n - coreRules.length) }, (_, k) => fillerRule(k, o.regex ?? true));
  const rules = [...coreRules, ...filler].slice(0, n);
  const doc: Record<string, unknown> = {
    version: 1,
    name: `bench-${n}`,
    defaults: { effect: 'deny' },
    sensitivity: {
      levels: ['public', 'internal', 'confidential', 'restricted'],
      default: 'internal',
      findings: { EMAIL_ADDRESS: 'confidential', PHONE_NUMBER: 'confidential', CREDIT_CARD: 'restricted', 'SECRET_*': 'restricted' },
      models: { confidential: ['gpt-4o*', 'claude-*', 'llama-*'], restricted: ['llama-*'] },
    },
    routing: { on_sensitivity_violation: 'block' },
    rules,
  };
  if (o.governed) {
    doc.content = benchContentSection;
    // Limits far above anything the benchmark sends: every request is counted, none is refused.
    doc.budgets = {
      prices: [{ model: 'gpt-4o*', input_per_million: 2.5, output_per_million: 10 }],
      limits: [
        { id: 'user-rpm', per: 'user', requests_per_minute: 100_000_000 },
        { id: 'eng-tokens', per: 'group', match: { groups: ['eng'] }, tokens_per_minute: 1e12, tokens_per_day: 1e13 },
        { id: 'user-spend', per: 'user', spend_per_month: 1e9 },
      ],
    };
  }
  return stringify(doc);
}
