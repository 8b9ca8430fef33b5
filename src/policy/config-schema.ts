/** Gateway config `policy:` (docs/configuration.md#policy, docs/policies.md). */
export interface PolicyConfig {
  /** Laptop mode: run this policy file (re-read when it changes) instead of the store's active version. */
  file?: string;
  /** How often a replica checks the store for an activation made elsewhere (ms). */
  poll_interval_ms: number;
  /** How long tokenization mappings of a conversation live after its last use (ms). */
  token_ttl_ms: number;
}

export const policyConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    file: { type: 'string', minLength: 1, description: 'policy YAML file, relative to the config file' },
    poll_interval_ms: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 5000, description: '0 disables polling' },
    token_ttl_ms: { type: 'integer', minimum: 1000, maximum: 30 * 86_400_000, default: 3_600_000 },
  },
} as const;
