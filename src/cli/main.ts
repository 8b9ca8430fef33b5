import { COMMANDS } from './commands/index.ts';
import { PRODUCT_VERSION } from '../core/version.ts';
import { print, UsageError, type CliIo } from './io.ts';

/** `portcullis <command> [subcommand] [options]` — the one dispatcher; commands live in commands/. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    print(io.stdout, 'usage: portcullis <command> [options]\n\ncommands:');
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
      if (err instanceof UsageError) print(io.stderr, `usage: ${cmd.usage}`);
      return 2;
    }
    print(io.stderr, `portcullis ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/** Entry used by bin/portcullis.js. `serve` returns -1: it keeps running until a signal stops it. */
export async function main(): Promise<void> {
  const code = await runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  });
  if (code !== -1) process.exitCode = code;
}
