import type { CliCommand } from '../io.ts';

/**
 * Every CLI command, by name. Modules add their command here (one line each) and document it in docs/cli.md.
 */
export const COMMANDS: Record<string, CliCommand> = {};
