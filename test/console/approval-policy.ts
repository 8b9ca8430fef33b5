/**
 * The policy of the console suites (console.test.ts, tour.test.ts): cards make a request confidential, and
 * confidential requests from eng wait for a decision by sec (deferred mode).
 */
export const APPROVAL_POLICY = `
version: 1
name: console
sensitivity: { levels: [public, confidential], default: public, findings: { CREDIT_CARD: confidential } }
rules:
  - { id: eng, effect: allow, subjects: { groups: [eng] } }
  - { id: eng-confidential, effect: require_approval, subjects: { groups: [eng] }, sensitivity: [confidential], approval: { mode: deferred, approver_groups: [sec] } }
content:
  rules: [{ id: flag-cards, types: [CREDIT_CARD], action: flag }]
`;

/** The roles of those suites: admins, approvers (sec), auditors and users (eng, sec); keys checked on every request. */
export const CONSOLE_AUTH_YAML = `auth:
  key_cache_ttl_ms: 0
  roles: { admin: [portcullis-admins], approver: [sec], auditor: [auditors], user: [eng, sec] }
`;
