import { COMMANDS } from './commands/index.ts';
import { PRODUCT_VERSION } from '../core/version.ts';
import { print, UsageError, type CliIo } from './io.ts';

/** `portcullis <command> [subcommand] [options]` — the one dispatcher; commands live in commands/. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    print(io.stdout, 'usage: portcullis <command> [options]', '', 'commands:');
    for (const [n, c] of Object.entries(COMMANDS)) print(io.stdout, `  ${n.padEnd(16)} ${c.summary}`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    print(io.stdout, PRODUCT_VERSION);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    print(io.stderr, `unknown command "${name}"; run portcullis help`);
    return 2;
  }
  const cmd = await entry.load();
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'ConfigError')) {
      print(io.stderr, `portcullis ${name}: ${err.message}`);
      if (err instanceof UsageError) print(io.stderr, ...`usage: ${cmd.usage}`.split('\n'));
      return 2;
    }
    print(io.stderr, `portcullis ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/** Entry used by bin/portcullis.js. `serve` returns -1: it keeps running until a signal stops it. */
export async function main(): Promise<void> {
  endQuietlyOnClosedPipe(process.stdout);
  endQuietlyOnClosedPipe(process.stderr);
  const code = await runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  });
  if (code !== -1) process.exitCode = code;
}

/**
 * `portcullis exchanges list | head`: when the reader closes the pipe, the next write fails with EPIPE (Node ignores
 * SIGPIPE, so it arrives as an 'error' event, which unhandled would crash with a stack trace). The reader wanted no
 * more: end at once, silently, with the status of a process killed by SIGPIPE (128 + 13), as `git log | head` does,
 * so a `set -o pipefail` script still sees that the output was cut short. Any other write error stays fatal.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT_CLOSED_PIPE);
    throw err;
  });
}

export const EXIT_CLOSED_PIPE = 141;
