import { spawn } from 'node:child_process';
import { loadCredentials } from '../../identity/client/credentials.ts';
import { freshCredentials, toolEnv } from '../../identity/client/gateway-client.ts';
import { print, UsageError, type CliCommand } from '../io.ts';

export const execCommand: CliCommand = {
  summary: 'run a command with OPENAI_*/ANTHROPIC_* pointed at the gateway and a fresh token',
  usage: 'portcullis exec -- COMMAND [ARGS...]',
  async run(args, io) {
    const argv = args[0] === '--' ? args.slice(1) : args;
    if (argv.length === 0) throw new UsageError('give the command to run after --');
    const stored = await loadCredentials(io.env);
    if (!stored) {
      print(io.stderr, 'not signed in; run `portcullis login`');
      return 1;
    }
    const env = { ...io.env, ...toolEnv(await freshCredentials(io.env, stored)) };
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env, cwd: io.cwd });
    // Forward termination signals so Ctrl-C reaches the tool, and mirror its exit status (128+n for a signal).
    const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    try {
      return await new Promise<number>((ok) => {
        child.on('error', (err) => {
          print(io.stderr, `cannot run ${argv[0]!}: ${err.message}`);
          ok(127);
        });
        child.on('exit', (code, signal) => ok(code ?? (signal ? 128 + signalNumber(signal) : 1)));
      });
    } finally {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
  },
};

function signalNumber(sig: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig] ?? 1;
}
