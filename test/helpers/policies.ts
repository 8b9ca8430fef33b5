/** Policy texts shared by tests: the `eng` group may use every model but gpt-4o-mini (refused by rule `no-mini`). */
export const DENY_MINI_POLICY = `
version: 1
name: strict
rules:
  - id: no-mini
    effect: deny
    subjects: { groups: [eng] }
    resources: { models: ["gpt-4o-mini"] }
  - id: eng
    effect: allow
    subjects: { groups: [eng] }
`;
