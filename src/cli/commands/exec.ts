import { spawn } from 'node:child_process';
import { toolEnv } from '../../identity/client/gateway-client.ts';
import { adminTarget, TARGET_FLAGS } from '../admin-target.ts';
import { parseFlags } from './login.ts';
import { print, UsageError, type CliCommand } from '../io.ts';

export const execCommand: CliCommand = {
  summary: 'run a command with OPENAI_*/ANTHROPIC_* pointed at the gateway and a fresh token',
  usage: 'portcullis exec [--gateway URL] [--key-file PATH] -- COMMAND [ARGS...]',
  async run(args, io) {
    // Options before `--` are exec's own; everything after it is the command, untouched. Without `--` the whole
    // argument list is the command (its options are never taken for exec's).
    const dash = args.indexOf('--');
    const { values, positionals } = parseFlags(dash === -1 ? [] : args.slice(0, dash), TARGET_FLAGS);
    if (positionals.length > 0) throw new UsageError('put the command after --');
    const argv = dash === -1 ? args : args.slice(dash + 1);
    if (argv.length === 0) throw new UsageError('give the command to run after --');
    const t = await adminTarget(io, { gateway: values.gateway, keyFile: values['key-file'] });
    const env = { ...io.env, ...toolEnv(t) };
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
