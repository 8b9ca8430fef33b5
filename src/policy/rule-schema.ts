/** JSON Schema fragments every kind of policy rule shares (LLM rules in document.ts, MCP rules in mcp.ts). */
export const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

export const ruleHeadSchema = {
  id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$' },
  description: { type: 'string', maxLength: 2000 },
  effect: { enum: ['allow', 'deny', 'require_approval'] },
  subjects: {
    type: 'object', additionalProperties: false,
    properties: {
      users: stringList, groups: stringList,
      kinds: { type: 'array', items: { enum: ['user', 'service', 'workload'] } },
      claims: { type: 'object', additionalProperties: { anyOf: [{ type: 'string' }, stringList] } },
    },
  },
} as const;
