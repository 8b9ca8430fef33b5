import { once, type EventEmitter } from 'node:events';
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

/**
 * Lines already made safe for where they go (an export's lines: to a file exact, to stdout through
 * terminal-text.ts), with backpressure. The one other way a command writes.
 */
export async function writeLines(out: NodeJS.WritableStream, lines: AsyncIterable<string>): Promise<void> {
  for await (const line of lines) if (!out.write(line)) await once(out as NodeJS.WritableStream & EventEmitter, 'drain');
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
