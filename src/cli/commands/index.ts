import type { CliCommand } from '../io.ts';
import { credentialsCommand } from './credentials.ts';
import { exchangesCommand } from './exchanges.ts';
import { keysCommand } from './keys.ts';
import { mockUpstreamCommand } from './mock-upstream.ts';
import { serveCommand } from './serve.ts';

/**
 * Every CLI command, by name. Modules add their command here (one line each) and document it in docs/cli.md.
 */
export const COMMANDS: Record<string, CliCommand> = {
  serve: serveCommand,
  keys: keysCommand,
  exchanges: exchangesCommand,
  credentials: credentialsCommand,
  'mock-upstream': mockUpstreamCommand,
};
