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
};
