import { terminalJson, terminalLine, terminalText } from '../core/terminal-text.ts';

/** Streams a CLI command reads and writes; tests pass their own. */
export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface CliCommand {
  summary: string;
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
}

/*
 * Every byte a command writes goes through these three functions, so no recorded or client-supplied value reaches
 * the terminal as a control character (src/core/terminal-text.ts): a model name, user agent, subject, body or a
 * gateway's error message cannot clear, retitle or forge lines of an operator's terminal.
 */

/** Prints each argument as one line; control characters inside it (LF and CR too) are shown escaped. */
export function print(out: NodeJS.WritableStream, ...lines: string[]): boolean {
  return out.write(lines.map((l) => terminalLine(l) + '\n').join(''));
}

/** Prints a multi-line document (policy YAML, diff, scanned text) keeping its lines; other controls escaped. */
export function printText(out: NodeJS.WritableStream, text: string): boolean {
  const safe = terminalText(text);
  return out.write(safe.endsWith('\n') ? safe : safe + '\n');
}

/** Pretty JSON (`--json`); `compact` for one value per line (`--jsonl`). Parses to the same value. */
export function printJson(out: NodeJS.WritableStream, value: unknown, o: { compact?: boolean } = {}): boolean {
  return out.write(terminalJson(value, o.compact ? undefined : 2) + '\n');
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
