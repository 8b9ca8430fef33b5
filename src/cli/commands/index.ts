import type { CliCommand } from '../io.ts';

/**
 * Every CLI command, by name, loaded on demand (a CLI invocation imports only the module it runs). Modules add
 * their command here (one entry each) and document it in docs/cli.md.
 */
export interface CommandEntry {
  summary: string;
  load(): Promise<CliCommand>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  serve: { summary: 'run the gateway (embedded default without --config)', load: async () => (await import('./serve.ts')).serveCommand },
  keys: { summary: 'create, list and revoke Portcullis API keys', load: async () => (await import('./keys.ts')).keysCommand },
  exchanges: { summary: 'list and inspect recorded exchanges', load: async () => (await import('./exchanges.ts')).exchangesCommand },
  credentials: { summary: 'store a provider API key (write-only, encrypted at rest)', load: async () => (await import('./credentials.ts')).credentialsCommand },
  'mock-upstream': { summary: 'run the built-in mock provider (OpenAI + Anthropic wire formats)', load: async () => (await import('./mock-upstream.ts')).mockUpstreamCommand },
  login: { summary: 'sign in through your identity provider (browser or --device)', load: async () => (await import('./login.ts')).loginCommand },
  logout: { summary: 'revoke your session and forget the stored token', load: async () => (await import('./logout.ts')).logoutCommand },
  whoami: { summary: 'show your identity, groups and token expiry', load: async () => (await import('./whoami.ts')).whoamiCommand },
  env: { summary: 'print OPENAI_*/ANTHROPIC_* exports for the gateway', load: async () => (await import('./env.ts')).envCommand },
  exec: { summary: 'run a command with a fresh gateway token in its environment', load: async () => (await import('./exec.ts')).execCommand },
  'service-accounts': { summary: 'create, rotate and revoke service-account keys', load: async () => (await import('./service-accounts.ts')).serviceAccountsCommand },
  approvals: { summary: 'list, show, approve and deny just-in-time approvals', load: async () => (await import('./approvals.ts')).approvalsCommand },
  audit: { summary: 'verify the audit trail; export and verify bundles offline', load: async () => (await import('./audit.ts')).auditCommand },
  sessions: { summary: 'list recorded sessions and replay one with its original timing', load: async () => (await import('./sessions.ts')).sessionsCommand },
  usage: { summary: 'show current budget and rate-limit usage per user, group, service and model', load: async () => (await import('./usage.ts')).usageCommand },
  analytics: { summary: 'show usage by user, group, model, client tool, … from the rollups; the identities and groups seen', load: async () => (await import('./analytics.ts')).analyticsCommand },
  investigations: { summary: 'list, show, assign, annotate and close investigations opened by alert rules', load: async () => (await import('./investigations.ts')).investigationsCommand },
  suspensions: { summary: 'list identities suspended by alert rules; lift a suspension', load: async () => (await import('./investigations.ts')).suspensionsCommand },
  scan: { summary: 'show what content detectors find in a text, and the masked text', load: async () => (await import('./scan.ts')).scanCommand },
  policy: { summary: 'validate, diff, push, activate, roll back, show and simulate policy versions', load: async () => (await import('./policy.ts')).policyCommand },
  mcp: { summary: 'list MCP tool catalogues, show one, accept a pending one', load: async () => (await import('./mcp.ts')).mcpCommand },
  templates: { summary: 'push, list and show approved prompt templates', load: async () => (await import('./templates.ts')).templatesCommand },
};
